/**
 * A schedule in the Jobs tab: its notebook, trigger, next run and last job, and the buttons
 * that run it now, pause or resume it, and delete it.
 */
import { Dialog, showDialog } from '@jupyterlab/apputils';
import * as React from 'react';

import { ISchedule } from '../api';
import { errorMessage } from '../client';
import { StatusBadge } from '../components';
import { formatTime, formatUntil, plural } from '../format';
import { useAction } from './action';
import { basename, parametersText, stateLabel, triggerText } from './format';
import type { IJobsContext } from './context';

export function ScheduleRow(props: { schedule: ISchedule; context: IJobsContext }): JSX.Element {
  const { schedule, context } = props;
  const [busy, problem, act] = useAction();
  const trigger = triggerText(schedule);
  const remove = async () => {
    const answer = await showDialog({
      title: 'Delete this schedule?',
      body:
        `${schedule.notebook} (${trigger}) will not run again. ` +
        'Its jobs and their executed notebooks stay.',
      buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Delete' })]
    });
    if (answer.button.accept) {
      await act(() => context.client.deleteSchedule(schedule.id));
    }
  };
  const parameters = parametersText(schedule.parameters ?? {});
  return (
    <li
      className="jp-gorgon-schedule-row"
      data-schedule-id={schedule.id}
      data-paused={schedule.paused ? 'true' : 'false'}
    >
      <div className="jp-gorgon-run-head">
        {schedule.paused && <StatusBadge status="paused" />}
        <NotebookName
          path={schedule.notebook}
          urlPath={schedule.notebook_url_path}
          title={`Open this ${schedule.kind}`}
          context={context}
        />
        <span className="jp-gorgon-kind" data-kind={schedule.kind}>
          {schedule.kind}
        </span>
        {schedule.name && <span className="jp-gorgon-schedule-name">{schedule.name}</span>}
      </div>
      <div className="jp-gorgon-facts">
        <span className="jp-gorgon-trigger">{trigger}</span>
        <span className="jp-gorgon-next-run" title={formatTime(schedule.next_run_at)}>
          {schedule.paused
            ? 'paused'
            : schedule.next_run_at
              ? `next ${formatUntil(schedule.next_run_at)}, ${formatTime(schedule.next_run_at)}`
              : 'will not run again'}
        </span>
        {schedule.active > 0 && <span>{plural(schedule.active, 'job')} queued or running</span>}
        {schedule.last_job && (
          <span>
            last{' '}
            <StatusBadge
              status={schedule.last_job.state}
              label={stateLabel(schedule.last_job.state)}
            />
          </span>
        )}
      </div>
      {parameters && (
        <div className="jp-gorgon-facts">
          <code className="jp-gorgon-parameters" title="papermill parameters">
            {parameters}
          </code>
        </div>
      )}
      <div className="jp-gorgon-row-actions">
        <button
          className="jp-Button jp-mod-styled jp-mod-accept jp-gorgon-small-button jp-gorgon-run-now"
          disabled={busy}
          title="Queue a job of this schedule now, whatever its trigger says"
          onClick={() => void act(() => context.client.runSchedule(schedule.id))}
        >
          Run now
        </button>
        <button
          className="jp-Button jp-mod-styled jp-mod-reject jp-gorgon-small-button jp-gorgon-pause"
          disabled={busy}
          title={
            schedule.paused
              ? 'Fire again from now on (what fell due while paused is not run)'
              : 'Stop firing until resumed'
          }
          onClick={() =>
            void act(() =>
              schedule.paused
                ? context.client.resumeSchedule(schedule.id)
                : context.client.pauseSchedule(schedule.id)
            )
          }
        >
          {schedule.paused ? 'Resume' : 'Pause'}
        </button>
        <button
          className="jp-Button jp-mod-styled jp-mod-reject jp-gorgon-small-button jp-gorgon-delete"
          disabled={busy}
          onClick={() => void remove()}
        >
          Delete
        </button>
      </div>
      {problem && (
        <div className="jp-gorgon-inline-error" role="alert">
          {problem}
        </div>
      )}
    </li>
  );
}

/** A notebook's name, a link that opens it when it is under the server's root. */
function NotebookName(props: {
  path: string;
  urlPath: string | null;
  title: string;
  context: IJobsContext;
}): JSX.Element {
  const [problem, setProblem] = React.useState<string | null>(null);
  const name = basename(props.path);
  if (!props.urlPath) {
    return (
      <span className="jp-gorgon-run-name" title={props.path}>
        {name}
      </span>
    );
  }
  const urlPath = props.urlPath;
  return (
    <span className="jp-gorgon-run-name">
      <button
        className="jp-gorgon-link-button jp-gorgon-notebook-link"
        title={`${props.title}: ${urlPath}`}
        onClick={event => {
          event.stopPropagation();
          setProblem(null);
          props.context.openFile(urlPath).catch(error => setProblem(errorMessage(error)));
        }}
      >
        {name}
      </button>
      {problem && <span className="jp-gorgon-inline-error">{problem}</span>}
    </span>
  );
}
