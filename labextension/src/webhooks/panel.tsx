/**
 * The Webhooks tab: the webhooks senders post to, and their recent deliveries (what came,
 * what it started, why one was refused), with Replay on the failed and rate-limited ones.
 * Read when the tab is shown, then every few seconds while it stays shown.
 */
import { ReactWidget } from '@jupyterlab/ui-components';
import { Message } from '@lumino/messaging';
import * as React from 'react';

import { ErrorNotice, Notice, StatusBadge, WithCode } from '../components';
import { formatAgo, formatTime, shortId } from '../format';
import { IDelivery, IWebhook } from '../api';
import { GorgonClient } from '../client';

const REFRESH_MS = 5000;

const STATUS_LABELS: Record<string, string> = {
  accepted: 'accepted',
  duplicate: 'duplicate',
  rate_limited: 'rate limited',
  refused: 'refused',
  failed: 'failed'
};

function WebhookRow(props: { webhook: IWebhook }): JSX.Element {
  const { webhook } = props;
  return (
    <li className="jp-gorgon-job-row jp-gorgon-webhook-row" data-webhook={webhook.name}>
      <div className="jp-gorgon-step-head">
        <StatusBadge
          status={webhook.paused ? 'cancelled' : webhook.secret_set ? 'succeeded' : 'failed'}
          label={webhook.paused ? 'paused' : webhook.secret_set ? 'active' : 'no secret'}
          title={
            webhook.secret_set
              ? `signed with the secret in ${webhook.secret_source}`
              : `${webhook.secret_source} is not set where this server runs: deliveries get 503`
          }
        />
        <span className="jp-gorgon-run-name">{webhook.name}</span>
      </div>
      <div className="jp-gorgon-facts">
        <span title="the workflow it starts">{webhook.workflow}</span>
        <code title="where senders POST" style={{ wordBreak: 'break-all' }}>
          {webhook.url_path}
        </code>
        <span>{webhook.rate}/min</span>
      </div>
    </li>
  );
}

function DeliveryRow(props: {
  delivery: IDelivery;
  onReplay: (delivery: IDelivery) => Promise<void>;
}): JSX.Element {
  const { delivery } = props;
  const [busy, setBusy] = React.useState(false);
  const [problem, setProblem] = React.useState<string | null>(null);
  const replay = async () => {
    setBusy(true);
    setProblem(null);
    try {
      await props.onReplay(delivery);
    } catch (error) {
      setProblem((error as Error).message);
    }
    setBusy(false);
  };
  const job = delivery.job_id
    ? `job ${shortId(delivery.job_id)}${delivery.job_state ? ` (${delivery.job_state})` : ''}`
    : null;
  return (
    <li
      className="jp-gorgon-job-row jp-gorgon-delivery-row"
      data-delivery-id={delivery.id}
      data-status={delivery.status}
    >
      <div className="jp-gorgon-step-head">
        <StatusBadge
          status={
            delivery.status === 'accepted'
              ? 'succeeded'
              : delivery.status === 'failed'
                ? 'failed'
                : 'waiting'
          }
          label={STATUS_LABELS[delivery.status] ?? delivery.status}
        />
        <span className="jp-gorgon-run-name">{delivery.webhook}</span>
        {delivery.replayable && (
          <button
            className="jp-Button jp-mod-styled jp-mod-accept jp-gorgon-small-button jp-gorgon-replay"
            disabled={busy}
            onClick={() => void replay()}
          >
            {busy ? 'Replaying…' : 'Replay'}
          </button>
        )}
      </div>
      <div className="jp-gorgon-facts">
        <code>{shortId(delivery.id)}</code>
        <span title={formatTime(delivery.received_at)}>{formatAgo(delivery.received_at)}</span>
        {delivery.event && <span>{delivery.event}</span>}
        {job && <span>{job}</span>}
        {delivery.run_id && <code title="the run it started">run {shortId(delivery.run_id)}</code>}
        {delivery.replay_of && <span>replay of {shortId(delivery.replay_of)}</span>}
      </div>
      {delivery.reason && (
        <div className="jp-gorgon-facts jp-gorgon-delivery-reason">{delivery.reason}</div>
      )}
      {problem && <ErrorNotice error={problem} />}
    </li>
  );
}

export class WebhooksPanel extends ReactWidget {
  constructor(client: GorgonClient) {
    super();
    this._client = client;
    this.id = 'gorgon-webhooks';
    this.addClass('jp-gorgon-panel');
    this.addClass('jp-gorgon-webhooks');
    this.title.label = 'Webhooks';
  }

  async refresh(): Promise<void> {
    try {
      const [webhooks, deliveries] = await Promise.all([
        this._client.listWebhooks(),
        this._client.listDeliveries()
      ]);
      this._webhooks = webhooks;
      this._deliveries = deliveries;
      this._error = null;
    } catch (error) {
      this._error = (error as Error).message;
    }
    this.update();
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    void this.refresh();
    this._timer = window.setInterval(() => void this.refresh(), REFRESH_MS);
  }

  protected onBeforeHide(msg: Message): void {
    window.clearInterval(this._timer);
    super.onBeforeHide(msg);
  }

  dispose(): void {
    window.clearInterval(this._timer);
    super.dispose();
  }

  private _replay = async (delivery: IDelivery): Promise<void> => {
    await this._client.replayDelivery(delivery.id);
    await this.refresh();
  };

  protected render(): JSX.Element {
    const webhooks = this._webhooks;
    return (
      <div className="jp-gorgon-scroll">
        {this._error && <ErrorNotice error={this._error} onRetry={() => void this.refresh()} />}
        <div className="jp-gorgon-section-bar">
          <span className="jp-gorgon-subheading">Webhooks</span>
        </div>
        {webhooks === null && !this._error && <Notice tone="info">Reading the webhooks…</Notice>}
        {webhooks !== null && webhooks.length === 0 && (
          <Notice tone="info">
            <WithCode text="No webhooks yet: `gorgon webhook create NAME WORKFLOW --secret-env VARIABLE`." />
          </Notice>
        )}
        {webhooks !== null && webhooks.length > 0 && (
          <ul className="jp-gorgon-run-list jp-gorgon-webhook-list">
            {webhooks.map(webhook => (
              <WebhookRow key={webhook.name} webhook={webhook} />
            ))}
          </ul>
        )}
        <div className="jp-gorgon-section-bar">
          <span className="jp-gorgon-subheading">Recent deliveries</span>
        </div>
        {this._deliveries.length === 0 && webhooks !== null && (
          <Notice tone="info">No deliveries yet.</Notice>
        )}
        {this._deliveries.length > 0 && (
          <ul className="jp-gorgon-run-list jp-gorgon-delivery-list">
            {this._deliveries.map(delivery => (
              <DeliveryRow key={delivery.id} delivery={delivery} onReplay={this._replay} />
            ))}
          </ul>
        )}
      </div>
    );
  }

  private _client: GorgonClient;
  private _webhooks: IWebhook[] | null = null;
  private _deliveries: IDelivery[] = [];
  private _error: string | null = null;
  private _timer = 0;
}
