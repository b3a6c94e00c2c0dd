/**
 * The webhooks senders post to, and their recent deliveries (what came, what it started, why
 * one was refused), with Replay on the failed and rate-limited ones: the end of the Jobs tab.
 */
import * as React from 'react';

import { ErrorNotice, Notice, StatusBadge } from '../components';
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

/**
 * The webhooks and their recent deliveries, a section of the Jobs tab: read when it is first
 * drawn, then every few seconds while it can be seen.
 */
export function WebhooksSection(props: { client: GorgonClient }): JSX.Element {
  const { client } = props;
  const [webhooks, setWebhooks] = React.useState<IWebhook[] | null>(null);
  const [deliveries, setDeliveries] = React.useState<IDelivery[]>([]);
  const [error, setError] = React.useState<string | null>(null);
  const here = React.useRef<HTMLDivElement>(null);

  const refresh = React.useCallback(async () => {
    try {
      const [hooks, came] = await Promise.all([client.listWebhooks(), client.listDeliveries()]);
      setWebhooks(hooks);
      setDeliveries(came);
      setError(null);
    } catch (failure) {
      setError((failure as Error).message);
    }
  }, [client]);

  React.useEffect(() => {
    void refresh();
    // a hidden tab (offsetParent null) asks nothing; it reads again once it is shown
    const timer = window.setInterval(() => {
      if (here.current?.offsetParent) {
        void refresh();
      }
    }, REFRESH_MS);
    return () => window.clearInterval(timer);
  }, [refresh]);

  const replay = async (delivery: IDelivery): Promise<void> => {
    await client.replayDelivery(delivery.id);
    await refresh();
  };

  if (!error && (webhooks === null || webhooks.length === 0)) {
    // none (or not read yet): the Jobs tab stays about schedules (gorgon webhook create makes one)
    return <div className="jp-gorgon-webhooks" ref={here} />;
  }
  return (
    <div className="jp-gorgon-webhooks" ref={here}>
      {error && <ErrorNotice error={error} onRetry={() => void refresh()} />}
      <div className="jp-gorgon-section-bar">
        <span className="jp-gorgon-subheading">Webhooks</span>
      </div>
      {webhooks !== null && webhooks.length > 0 && (
        <>
          <ul className="jp-gorgon-run-list jp-gorgon-webhook-list">
            {webhooks.map(webhook => (
              <WebhookRow key={webhook.name} webhook={webhook} />
            ))}
          </ul>
          <div className="jp-gorgon-section-bar">
            <span className="jp-gorgon-subheading">Recent deliveries</span>
          </div>
          {deliveries.length === 0 && <Notice tone="info">No deliveries yet.</Notice>}
          {deliveries.length > 0 && (
            <ul className="jp-gorgon-run-list jp-gorgon-delivery-list">
              {deliveries.map(delivery => (
                <DeliveryRow key={delivery.id} delivery={delivery} onReplay={replay} />
              ))}
            </ul>
          )}
        </>
      )}
    </div>
  );
}
