/**
 * A job in the Jobs tab: its state, when it was due, how it failed and where, its executed
 * notebook, and its detail (parameters, times, the workflow runs it made).
 */
import { caretDownIcon, caretRightIcon } from '@jupyterlab/ui-components';
import * as React from 'react';

import { IJob, JobState } from '../api';
import { GorgonApiError } from '../client';
import { StatusBadge } from '../components';
import { formatAgo, formatDuration, formatTime, formatUsd, shortId } from '../format';
import { useAction } from './action';
import { basename, parametersText, stateLabel } from './format';
import type { IJobsContext } from './context';

const ACTIVE = new Set<JobState>(['queued', 'running']);

function errorLine(job: IJob): string | null {
  const where = job.failed_cell !== null && job.failed_cell !== undefined;
  if (where && job.exception) {
    return `cell ${job.failed_cell}: ${job.exception.split('\n')[0]}`;
  }
  return job.exception ? job.exception.split('\n')[0] : null;
}

/** Whether `text` already says the exception's first line. */
function said(text: string | null, exception: string | null): boolean {
  const first = exception?.split('\n')[0];
  return !!text && !!first && text.includes(first);
}

export function JobRow(props: { job: IJob; context: IJobsContext }): JSX.Element {
  const { job, context } = props;
  const [open, setOpen] = React.useState(false);
  const [busy, problem, act] = useAction();
  const [notice, setNotice] = React.useState<string | null>(null);
  const Caret = open ? caretDownIcon : caretRightIcon;
  const cancel = () =>
    act(async () => {
      try {
        const result = await context.client.cancelJob(job.id);
        setNotice(
          result === 'cancelled'
            ? 'Cancelled before it started.'
            : 'Cancel requested: its kernel stops within seconds.'
        );
      } catch (error) {
        if (error instanceof GorgonApiError && error.status === 409) {
          throw new Error(`It ended already: ${error.message}`);
        }
        throw error;
      }
    });
  const where = errorLine(job);
  const attempts = job.max_attempts > 1 ? `attempt ${job.attempt} of ${job.max_attempts}` : null;
  return (
    <li className="jp-gorgon-job-row" data-job-id={job.id} data-state={job.state}>
      <button
        className="jp-gorgon-step-head"
        aria-expanded={open}
        onClick={() => setOpen(!open)}
        title={open ? 'Hide the details' : 'Show the details'}
      >
        <Caret.react tag="span" className="jp-gorgon-caret" />
        <StatusBadge status={job.state} label={stateLabel(job.state)} />
        <span className="jp-gorgon-run-name" title={job.notebook}>
          {basename(job.notebook)}
        </span>
        {job.cost_usd !== null && (
          <span className="jp-gorgon-run-cost" title="what the workflow runs in it cost">
            {formatUsd(job.cost_usd)}
          </span>
        )}
      </button>
      <div className="jp-gorgon-facts jp-gorgon-step-facts">
        <code>{shortId(job.id)}</code>
        <span className="jp-gorgon-kind" data-kind={job.kind}>
          {job.kind}
        </span>
        <span title={`due ${formatTime(job.scheduled_for)}`}>
          due {formatAgo(job.scheduled_for)}
        </span>
        {job.state === 'running' ? (
          <span title={formatTime(job.started_at)}>started {formatAgo(job.started_at)}</span>
        ) : (
          job.duration !== null && <span>{formatDuration(job.duration)}</span>
        )}
        {attempts && <span>{attempts}</span>}
        {job.cancel_requested && job.state === 'running' && <span>stopping…</span>}
      </div>
      {job.error && (
        <div className="jp-gorgon-job-error" title={job.error}>
          {job.error}
        </div>
      )}
      {where && !said(job.error, job.exception) && (
        <div className="jp-gorgon-job-where">{where}</div>
      )}
      {(job.notebook_url_path || ACTIVE.has(job.state)) && (
        <div className="jp-gorgon-row-actions jp-gorgon-step-facts">
          {job.notebook_url_path && (
            <button
              className="jp-gorgon-link-button jp-gorgon-open-output"
              title={`Open ${job.notebook_url_path}`}
              onClick={() => void act(() => context.openFile(job.notebook_url_path as string))}
            >
              Open executed notebook
            </button>
          )}
          {ACTIVE.has(job.state) && !job.cancel_requested && (
            <button
              className="jp-Button jp-mod-styled jp-mod-warn jp-gorgon-small-button jp-gorgon-cancel-job"
              disabled={busy}
              onClick={() => void cancel()}
            >
              Cancel
            </button>
          )}
        </div>
      )}
      {!job.notebook_url_path && job.notebook_unavailable && (
        <div className="jp-gorgon-hint-line jp-gorgon-step-facts jp-gorgon-output-unavailable">
          The executed notebook cannot be opened here: {job.notebook_unavailable}.
        </div>
      )}
      {notice && <div className="jp-gorgon-hint-line jp-gorgon-step-facts">{notice}</div>}
      {problem && (
        <div className="jp-gorgon-inline-error jp-gorgon-step-facts" role="alert">
          {problem}
        </div>
      )}
      {open && <JobDetail job={job} context={context} />}
    </li>
  );
}

function JobDetail(props: { job: IJob; context: IJobsContext }): JSX.Element {
  const { job } = props;
  const parameters = parametersText(job.parameters ?? {});
  return (
    <div className="jp-gorgon-step-output jp-gorgon-job-detail">
      <dl className="jp-gorgon-run-facts">
        <dt>job</dt>
        <dd>
          <code>{job.id}</code>
        </dd>
        <dt>{job.kind}</dt>
        <dd>{job.notebook}</dd>
        {parameters && (
          <>
            <dt>parameters</dt>
            <dd>
              <code>{parameters}</code>
            </dd>
          </>
        )}
        <dt>due</dt>
        <dd>{formatTime(job.scheduled_for)}</dd>
        <dt>started</dt>
        <dd>{formatTime(job.started_at)}</dd>
        <dt>ended</dt>
        <dd>{formatTime(job.ended_at)}</dd>
        {job.output_path && (
          <>
            <dt>output</dt>
            <dd>{job.output_path}</dd>
          </>
        )}
        {job.run_ids.length > 0 && (
          <>
            <dt>runs</dt>
            <dd>
              {job.run_ids.map(runId => (
                <button
                  key={runId}
                  className="jp-gorgon-link-button jp-gorgon-open-run"
                  title="Open this run in the Runs tab"
                  onClick={() => props.context.openRun(runId)}
                >
                  {shortId(runId)}
                </button>
              ))}
            </dd>
          </>
        )}
      </dl>
      {job.exception && (job.exception.includes('\n') || !said(job.error, job.exception)) && (
        <pre className="jp-gorgon-exception">{job.exception}</pre>
      )}
    </div>
  );
}
