/**
 * The Runs tab's list: recent runs, live from the event feed, each opening its detail.
 */
import * as React from 'react';

import { IRunSummary } from '../api';
import { FeedStatus, Notice, StatusBadge, WithCode } from '../components';
import { formatAgo, formatDuration, formatTime, formatTokens, plural, shortId } from '../format';
import type { IRunsContext } from './context';

/** What to do about a run whose process is gone (the detail says it too). */
export function resumeHint(runId: string): string {
  return `The process running it is gone: resume with \`gorgon resume ${shortId(runId)}\`.`;
}

export function RunList(props: {
  context: IRunsContext;
  onOpen: (runId: string) => void;
}): JSX.Element {
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
