/**
 * The Approvals tab: every pending approval, live from the event feed, with what to
 * decide on and the buttons to decide.
 */
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { ReactWidget } from '@jupyterlab/ui-components';
import * as React from 'react';

import { Decision, IApproval } from './api';
import { GorgonApiError, GorgonClient, errorMessage } from './client';
import { FeedStatus, Notice, ServerHtml, WithCode } from './components';
import { EventFeed } from './events';
import { formatAgo, formatTime, shortId } from './format';

/** The server's limit on a decision's comment (gorgon_nb.model.approval.COMMENT_LIMIT). */
const COMMENT_LIMIT = 5000;

export interface IApprovalsContext {
  client: GorgonClient;
  feed: EventFeed;
  openRun: (runId: string) => void;
  rendermime: IRenderMimeRegistry;
}

export class ApprovalsPanel extends ReactWidget {
  constructor(context: IApprovalsContext) {
    super();
    this._context = context;
    this.id = 'gorgon-approvals';
    this.addClass('jp-gorgon-panel');
    this.addClass('jp-gorgon-approvals');
    this.title.label = 'Approvals';
    context.feed.changed.connect(() => this.update(), this);
  }

  protected render(): JSX.Element {
    return <ApprovalsView context={this._context} />;
  }

  private _context: IApprovalsContext;
}

function ApprovalsView(props: { context: IApprovalsContext }): JSX.Element {
  const { feed } = props.context;
  const approvals = feed.approvals;
  // decided here: hidden at once, before the feed's next update drops them
  const [decided, setDecided] = React.useState<Set<string>>(new Set());
  // refused here (409, 403): kept on screen with the reason after the feed drops them
  const [held, setHeld] = React.useState<Map<string, IApproval>>(new Map());
  const pending = (approvals ?? []).filter(a => !decided.has(a.id));
  const live = new Set(pending.map(a => a.id));
  const shown = [...pending, ...[...held.values()].filter(a => !live.has(a.id))];
  let body: React.ReactNode;
  if (approvals === null) {
    body = feed.problem ? null : <Notice tone="info">Connecting to the live feed…</Notice>;
  } else if (shown.length === 0) {
    body = (
      <Notice tone="info">
        No approvals waiting. When a run stops at a step that needs a decision, it shows here, and
        the Gorgon icon on the left counts it.
      </Notice>
    );
  } else {
    body = shown.map(approval => (
      <ApprovalCard
        key={approval.id}
        approval={approval}
        closed={!live.has(approval.id)}
        context={props.context}
        onDecided={() => setDecided(new Set(decided).add(approval.id))}
        onRefused={() => setHeld(new Map(held).set(approval.id, approval))}
        onDismiss={() => {
          const next = new Map(held);
          next.delete(approval.id);
          setHeld(next);
        }}
      />
    ));
  }
  return (
    <div className="jp-gorgon-scroll">
      <FeedStatus feed={feed} />
      {body}
    </div>
  );
}

function kindText(approval: IApproval): string {
  switch (approval.kind) {
    case 'before':
      return 'approve before the step runs';
    case 'after':
      return "approve the step's output";
    case 'tool':
      return 'approve a tool call that writes';
    default:
      return 'approve to go on';
  }
}

function ApprovalCard(props: {
  approval: IApproval;
  /** No longer pending (decided elsewhere): shown only for the reason it was refused. */
  closed: boolean;
  context: IApprovalsContext;
  onDecided: () => void;
  onRefused: () => void;
  onDismiss: () => void;
}): JSX.Element {
  const { approval } = props;
  const [comment, setComment] = React.useState('');
  const [busy, setBusy] = React.useState(false);
  const [problem, setProblem] = React.useState<string | null>(null);

  const decide = async (decision: Decision) => {
    setBusy(true);
    setProblem(null);
    try {
      await props.context.client.decide(approval.id, decision, comment.trim() || null);
      props.onDecided();
    } catch (error) {
      const status = error instanceof GorgonApiError ? error.status : null;
      const prefix = status === 409 ? 'Already decided: ' : status === 403 ? 'Not allowed: ' : '';
      setProblem(prefix + errorMessage(error));
      setBusy(false);
      props.onRefused();
    }
  };

  const facts = [
    kindText(approval),
    approval.round > 1 ? `round ${approval.round}` : null,
    `who may decide: ${approval.approvers?.length ? approval.approvers.join(', ') : 'anyone'}`
  ].filter(Boolean);
  return (
    <div
      className="jp-gorgon-card jp-gorgon-approval"
      data-closed={props.closed ? 'true' : undefined}
      data-approval-id={approval.id}
      data-run-id={approval.run_id}
    >
      <div className="jp-gorgon-approval-title">{approval.title}</div>
      <div className="jp-gorgon-facts">
        <span>
          run{' '}
          <button
            className="jp-gorgon-link-button jp-gorgon-open-run"
            title="Open this run in the Runs tab"
            onClick={() => props.context.openRun(approval.run_id)}
          >
            {shortId(approval.run_id)}
          </button>
        </span>
        <span>
          step <code>{approval.step_key}</code>
        </span>
        <span title={formatTime(approval.requested_at)}>
          asked {formatAgo(approval.requested_at)}
        </span>
      </div>
      <div className="jp-gorgon-facts">
        {facts.map(fact => (
          <span key={fact} className="jp-gorgon-approval-fact">
            {fact}
          </span>
        ))}
        {approval.timeout_at && (
          <span className="jp-gorgon-approval-fact" title={formatTime(approval.timeout_at)}>
            no decision by {new Date(approval.timeout_at * 1000).toLocaleTimeString()}:{' '}
            {approval.on_timeout === 'approve' ? 'approved' : 'rejected'}
          </span>
        )}
      </div>
      {!approval.run_alive && (
        <Notice tone="warn">
          <WithCode
            text={
              'No process runs this run now: the decision is kept, and ' +
              `\`gorgon resume ${shortId(approval.run_id)}\` continues it.`
            }
          />
        </Notice>
      )}
      <div className="jp-gorgon-approval-preview">
        {approval.preview_html ? (
          <ServerHtml html={approval.preview_html} rendermime={props.context.rendermime} />
        ) : (
          <pre>{approval.preview || '(nothing to preview)'}</pre>
        )}
      </div>
      <textarea
        className="jp-mod-styled jp-gorgon-comment"
        placeholder="Comment (optional)"
        aria-label="Comment"
        rows={2}
        maxLength={COMMENT_LIMIT}
        value={comment}
        disabled={busy || props.closed}
        onChange={event => setComment(event.currentTarget.value)}
      />
      <div className="jp-gorgon-buttons">
        <button
          className="jp-Button jp-mod-styled jp-mod-warn jp-gorgon-reject"
          disabled={busy || props.closed}
          onClick={() => void decide('reject')}
        >
          Reject
        </button>
        <button
          className="jp-Button jp-mod-styled jp-mod-accept jp-gorgon-approve"
          disabled={busy || props.closed}
          onClick={() => void decide('approve')}
        >
          Approve
        </button>
      </div>
      {problem && (
        <div className="jp-gorgon-inline-error" role="alert">
          {problem}
          {props.closed && (
            <button className="jp-gorgon-link-button" onClick={props.onDismiss}>
              Dismiss
            </button>
          )}
        </div>
      )}
    </div>
  );
}
