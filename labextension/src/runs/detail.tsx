/**
 * One run in the Runs tab: its facts, what it waits for, its decisions and its steps, each
 * step opening its output.
 */
import { caretDownIcon, caretRightIcon } from '@jupyterlab/ui-components';
import * as React from 'react';

import { IApproval, IRun, IStep } from '../api';
import { ErrorNotice, Notice, ServerHtml, StatusBadge, WithCode } from '../components';
import { formatDuration, formatTime, formatTokens, plural } from '../format';
import { resumeHint } from './list';
import type { IRunsContext } from './context';

/** Runs that can still be cancelled (a stopped one too: it is then recorded as cancelled). */
const OPEN = new Set(['running', 'waiting', 'stopped']);

export function RunDetail(props: {
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
