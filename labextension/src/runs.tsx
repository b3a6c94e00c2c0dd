/**
 * The Runs tab: recent runs, live from the event feed; a run's steps and outputs.
 */
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { ReactWidget, caretDownIcon, caretRightIcon } from '@jupyterlab/ui-components';
import * as React from 'react';

import { IApproval, IRun, IRunSummary, IStep } from './api';
import { GorgonClient, errorMessage } from './client';
import { ErrorNotice, FeedStatus, Notice, ServerHtml, StatusBadge, WithCode } from './components';
import { EventFeed } from './events';
import { formatAgo, formatDuration, formatTime, formatTokens, plural, shortId } from './format';

export interface IRunsContext {
  client: GorgonClient;
  feed: EventFeed;
  /** Show the Approvals tab. */
  openApprovals: () => void;
  rendermime: IRenderMimeRegistry;
}

/** Runs that can still be cancelled (a stopped one too: it is then recorded as cancelled). */
const OPEN = new Set(['running', 'waiting', 'stopped']);

function resumeHint(runId: string): string {
  return `The process running it is gone: resume with \`gorgon resume ${shortId(runId)}\`.`;
}

export class RunsPanel extends ReactWidget {
  constructor(context: IRunsContext) {
    super();
    this._context = context;
    this.id = 'gorgon-runs';
    this.addClass('jp-gorgon-panel');
    this.addClass('jp-gorgon-runs');
    this.title.label = 'Runs';
    context.feed.changed.connect(this._onFeed, this);
  }

  /** Show one run's detail (an id or a prefix the server resolves). */
  openRun(runId: string): void {
    this._selected = runId;
    this._detail = null;
    this._error = null;
    this._notice = null;
    this._signature = '';
    this.update();
    void this._load();
  }

  closeRun(): void {
    this._selected = null;
    this._detail = null;
    this._error = null;
    this.update();
  }

  protected render(): JSX.Element {
    if (this._selected) {
      return (
        <div className="jp-gorgon-scroll">
          <button className="jp-gorgon-link-button jp-gorgon-back" onClick={() => this.closeRun()}>
            ← All runs
          </button>
          {this._error && <ErrorNotice error={this._error} onRetry={() => void this._load()} />}
          {!this._detail && !this._error && (
            <Notice tone="info">Loading run {shortId(this._selected)}…</Notice>
          )}
          {this._detail && (
            <RunDetail
              run={this._detail}
              notice={this._notice}
              onCancel={() => void this._cancel()}
              context={this._context}
            />
          )}
        </div>
      );
    }
    return <RunList context={this._context} onOpen={id => this.openRun(id)} />;
  }

  private _onFeed(): void {
    const selected = this._selected;
    const summary = selected ? this._context.feed.run(this._detail?.run_id ?? selected) : null;
    if (summary) {
      // the run changed (a step ended, tokens, status): read its detail again
      const signature = JSON.stringify(summary);
      if (signature !== this._signature && this._detail) {
        this._signature = signature;
        void this._load();
      }
    }
    this.update();
  }

  private async _load(): Promise<void> {
    const runId = this._selected;
    if (!runId) {
      return;
    }
    try {
      const run = await this._context.client.getRun(runId);
      if (this._selected === runId) {
        this._detail = run;
        this._error = null;
        const summary = this._context.feed.run(run.run_id);
        this._signature = summary ? JSON.stringify(summary) : '';
      }
    } catch (error) {
      if (this._selected === runId) {
        this._error = errorMessage(error);
      }
    }
    this.update();
  }

  private async _cancel(): Promise<void> {
    const run = this._detail;
    if (!run) {
      return;
    }
    try {
      const result = await this._context.client.cancelRun(run.run_id);
      this._notice =
        result === 'cancelled'
          ? 'Cancelled.'
          : 'Cancel requested: the run stops as soon as its process sees it.';
    } catch (error) {
      this._notice = `Could not cancel: ${errorMessage(error)}`;
    }
    this.update();
    await this._load();
  }

  private _context: IRunsContext;
  private _selected: string | null = null;
  private _detail: IRun | null = null;
  private _error: string | null = null;
  private _notice: string | null = null;
  private _signature = '';
}

function RunList(props: { context: IRunsContext; onOpen: (runId: string) => void }): JSX.Element {
  const { feed } = props.context;
  const runs = feed.runs;
  let body: React.ReactNode;
  if (runs === null) {
    body = feed.problem ? null : <Notice tone="info">Connecting to the live feed…</Notice>;
  } else if (runs.length === 0) {
    body = (
      <Notice tone="info">
        <WithCode
          text={
            'No runs yet. Run a workflow in a `%%gorgon` cell, with `gorgon run` in a ' +
            'terminal, or with `/run WORKFLOW` in the chat.'
          }
        />
      </Notice>
    );
  } else {
    body = (
      <ul className="jp-gorgon-run-list">
        {runs.map(run => (
          <RunRow key={run.run_id} run={run} context={props.context} onOpen={props.onOpen} />
        ))}
      </ul>
    );
  }
  return (
    <div className="jp-gorgon-scroll">
      <FeedStatus feed={feed} />
      {body}
    </div>
  );
}

function RunRow(props: {
  run: IRunSummary;
  context: IRunsContext;
  onOpen: (runId: string) => void;
}): JSX.Element {
  const { run } = props;
  return (
    <li
      className="jp-gorgon-run-row"
      data-run-id={run.run_id}
      data-status={run.status}
      tabIndex={0}
      onClick={() => props.onOpen(run.run_id)}
      onKeyDown={event => event.key === 'Enter' && props.onOpen(run.run_id)}
      title="Show the steps and outputs of this run"
    >
      <div className="jp-gorgon-run-head">
        <StatusBadge status={run.status} />
        <span className="jp-gorgon-run-name">{run.workflow_name || run.workflow_id}</span>
        <span className="jp-gorgon-run-cost">{run.cost}</span>
      </div>
      <div className="jp-gorgon-facts">
        <code className="jp-gorgon-run-id">{shortId(run.run_id)}</code>
        <span title={formatTime(run.started_at)}>{formatAgo(run.started_at)}</span>
        <span>{formatDuration(run.duration)}</span>
        <span>{formatTokens(run.tokens?.total)} tokens</span>
      </div>
      {run.stopped && (
        <div className="jp-gorgon-hint-line">
          <WithCode text={resumeHint(run.run_id)} />
        </div>
      )}
      {run.waiting > 0 && (
        <button
          className="jp-gorgon-link-button jp-gorgon-waiting-link"
          onClick={event => {
            event.stopPropagation();
            props.context.openApprovals();
          }}
        >
          {plural(run.waiting, 'approval')} waiting
        </button>
      )}
      {run.error && <div className="jp-gorgon-run-error">{run.error}</div>}
    </li>
  );
}

function RunDetail(props: {
  run: IRun;
  notice: string | null;
  onCancel: () => void;
  context: IRunsContext;
}): JSX.Element {
  const { run } = props;
  const inputs = Object.entries(run.inputs ?? {});
  return (
    <div className="jp-gorgon-run-detail" data-run-id={run.run_id} data-status={run.status}>
      <div className="jp-gorgon-run-title">
        <StatusBadge status={run.status} />
        <span className="jp-gorgon-run-name">{run.workflow_name || run.workflow_id}</span>
      </div>
      <dl className="jp-gorgon-run-facts">
        <dt>run</dt>
        <dd>
          <code>{run.run_id}</code>
        </dd>
        <dt>started</dt>
        <dd>{formatTime(run.started_at)}</dd>
        <dt>duration</dt>
        <dd>{formatDuration(run.duration)}</dd>
        <dt>tokens</dt>
        <dd>
          {formatTokens(run.tokens?.total)} ({formatTokens(run.tokens?.input)} in,{' '}
          {formatTokens(run.tokens?.output)} out)
        </dd>
        <dt>cost</dt>
        <dd>{run.cost}</dd>
        {run.source_path && (
          <>
            <dt>source</dt>
            <dd>{run.source_path}</dd>
          </>
        )}
        {inputs.length > 0 && (
          <>
            <dt>inputs</dt>
            <dd>
              {inputs.map(([key, value]) => (
                <div key={key}>
                  <code>
                    {key}={typeof value === 'string' ? value : JSON.stringify(value)}
                  </code>
                </div>
              ))}
            </dd>
          </>
        )}
      </dl>
      {run.stopped && (
        <Notice tone="warn">
          <WithCode text={resumeHint(run.run_id)} />
        </Notice>
      )}
      {run.error && <ErrorNotice error={run.error} />}
      {(run.notices ?? []).map(notice => (
        <Notice key={notice} tone="info">
          {notice}
        </Notice>
      ))}
      {run.waiting > 0 && (
        <Notice tone="warn">
          {plural(run.waiting, 'approval')} waiting:{' '}
          <button className="jp-gorgon-link-button" onClick={props.context.openApprovals}>
            decide in Approvals
          </button>
        </Notice>
      )}
      {OPEN.has(run.status) && (
        <div className="jp-gorgon-buttons">
          <button
            className="jp-Button jp-mod-styled jp-mod-warn jp-gorgon-cancel"
            onClick={props.onCancel}
          >
            Cancel run
          </button>
        </div>
      )}
      {props.notice && <div className="jp-gorgon-hint-line">{props.notice}</div>}
      {run.approvals.length > 0 && (
        <>
          <div className="jp-gorgon-subheading">Approvals</div>
          <ul className="jp-gorgon-step-list">
            {run.approvals.map(approval => (
              <ApprovalRow key={approval.id} approval={approval} />
            ))}
          </ul>
        </>
      )}
      <div className="jp-gorgon-subheading">Steps</div>
      {run.steps.length === 0 ? (
        <Notice tone="info">No step has started yet.</Notice>
      ) : (
        <ul className="jp-gorgon-step-list">
          {run.steps.map(step => (
            <StepRow key={step.key} step={step} context={props.context} />
          ))}
        </ul>
      )}
    </div>
  );
}

function StepRow(props: { step: IStep; context: IRunsContext }): JSX.Element {
  const { step } = props;
  const [open, setOpen] = React.useState(false);
  const Caret = open ? caretDownIcon : caretRightIcon;
  const who = step.role ? `${step.kind} · ${step.role}` : step.kind;
  return (
    <li className="jp-gorgon-step-row" data-key={step.key} data-status={step.status}>
      <button
        className="jp-gorgon-step-head"
        aria-expanded={open}
        onClick={() => setOpen(!open)}
        title={open ? 'Hide the output' : 'Show the output'}
      >
        <Caret.react tag="span" className="jp-gorgon-caret" />
        <StatusBadge status={step.status} />
        <span className="jp-gorgon-step-key">{step.key}</span>
        <span className="jp-gorgon-step-who">{who}</span>
      </button>
      <div className="jp-gorgon-facts jp-gorgon-step-facts">
        {step.model && <span>{step.model}</span>}
        <span>{formatTokens(step.tokens?.total)} tokens</span>
        <span>{step.cost}</span>
        <span>{formatDuration(step.duration)}</span>
      </div>
      {open && (
        <div className="jp-gorgon-step-output">
          {step.error && <ErrorNotice error={step.error} />}
          {step.output_html ? (
            <ServerHtml html={step.output_html} rendermime={props.context.rendermime} />
          ) : (
            !step.error && <div className="jp-gorgon-hint-line">No output.</div>
          )}
        </div>
      )}
    </li>
  );
}

/** A decision of the run: what was asked, and who decided how, and why. */
function ApprovalRow(props: { approval: IApproval }): JSX.Element {
  const { approval } = props;
  const decided = approval.decided_by
    ? `${approval.status} by ${approval.decided_by}${approval.timed_out ? ' (timed out)' : ''}`
    : approval.status;
  return (
    <li
      className="jp-gorgon-step-row jp-gorgon-run-approval"
      data-approval-id={approval.id}
      data-status={approval.status}
    >
      <div className="jp-gorgon-run-head">
        <StatusBadge status={approval.status} />
        <span className="jp-gorgon-approval-name">{approval.title}</span>
      </div>
      <div className="jp-gorgon-facts jp-gorgon-step-facts">
        <span>
          step <code>{approval.step_key}</code>
        </span>
        <span title={formatTime(approval.decided_at)}>{decided}</span>
      </div>
      {approval.comment && <div className="jp-gorgon-approval-comment">“{approval.comment}”</div>}
    </li>
  );
}
