/**
 * The Jobs tab: scheduled notebooks (run now, pause, resume, delete, a new one) and their
 * recent jobs, live from the event feed, with a link to each executed notebook.
 */
import { Dialog, showDialog } from '@jupyterlab/apputils';
import { HTMLSelect, ReactWidget, caretDownIcon, caretRightIcon } from '@jupyterlab/ui-components';
import * as React from 'react';

import { IJob, ISchedule, IScheduleRequest, JobState } from './api';
import { GorgonApiError, GorgonClient, errorMessage } from './client';
import { FeedStatus, Notice, StatusBadge, WithCode } from './components';
import { EventFeed } from './events';
import {
  formatAgo,
  formatDuration,
  formatTime,
  formatUntil,
  formatUsd,
  plural,
  shortId
} from './format';

export interface IJobsContext {
  client: GorgonClient;
  feed: EventFeed;
  /** Open a file of the server's root in JupyterLab (`docmanager:open`). */
  openFile: (path: string) => Promise<void>;
  /** Show a workflow run in the Runs tab. */
  openRun: (runId: string) => void;
  /** The path of the notebook being edited, if any: the new schedule's default. */
  currentNotebook: () => string | null;
}

const ACTIVE = new Set<JobState>(['queued', 'running']);
const CLOCK_MS = 30_000; // "in 5 min" and "3 min ago" stay true

const STATE_LABELS: Record<string, string> = { timed_out: 'timed out' };

function stateLabel(state: string): string {
  return STATE_LABELS[state] ?? state;
}

function basename(path: string): string {
  return path.split('/').pop() || path;
}

/** 90 -> "90 s", 900 -> "15 min", 3600 -> "1 h", 86400 -> "1 day". */
function formatEvery(seconds: number): string {
  const units: [number, string][] = [
    [86400, 'day'],
    [3600, 'h'],
    [60, 'min']
  ];
  for (const [size, unit] of units) {
    if (seconds >= size && seconds % size === 0) {
      const count = seconds / size;
      return unit === 'day' ? plural(count, 'day') : `${count} ${unit}`;
    }
  }
  return `${seconds} s`;
}

export function triggerText(schedule: ISchedule): string {
  if (schedule.cron) {
    return `cron ${schedule.cron} (${schedule.timezone})`;
  }
  if (schedule.every) {
    return `every ${formatEvery(schedule.every)}`;
  }
  return schedule.at ? `once, ${formatTime(schedule.at)}` : schedule.trigger;
}

function parametersText(parameters: Record<string, unknown>): string {
  return Object.entries(parameters)
    .map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`)
    .join(' ');
}

export class JobsPanel extends ReactWidget {
  constructor(context: IJobsContext) {
    super();
    this._context = context;
    this.id = 'gorgon-jobs';
    this.addClass('jp-gorgon-panel');
    this.addClass('jp-gorgon-jobs');
    this.title.label = 'Jobs';
    context.feed.changed.connect(() => this.update(), this);
    this._clock = window.setInterval(() => this.isVisible && this.update(), CLOCK_MS);
  }

  dispose(): void {
    window.clearInterval(this._clock);
    super.dispose();
  }

  protected render(): JSX.Element {
    return <JobsView context={this._context} />;
  }

  private _context: IJobsContext;
  private _clock: number;
}

function JobsView(props: { context: IJobsContext }): JSX.Element {
  const { feed } = props.context;
  const [creating, setCreating] = React.useState(false);
  const schedules = feed.schedules;
  const jobs = feed.jobs;

  let body: React.ReactNode;
  if (schedules === null || jobs === null) {
    body = feed.problem ? null : <Notice tone="info">Connecting to the live feed…</Notice>;
  } else {
    const waiting = jobs.some(job => job.state === 'queued') || schedules.some(s => !s.paused);
    body = (
      <>
        {feed.scheduler && !feed.scheduler.running && waiting && (
          <Notice tone="warn">
            <WithCode
              text={
                'No scheduler is running, so jobs wait in the queue. Set `[scheduler] enabled = ' +
                "true` in gorgon's `config.toml` and restart JupyterLab, or run " +
                '`gorgon scheduler` in a terminal.'
              }
            />
          </Notice>
        )}
        <div className="jp-gorgon-section-bar">
          <span className="jp-gorgon-subheading">Schedules</span>
          {!creating && (
            <button
              className="jp-Button jp-mod-styled jp-mod-reject jp-gorgon-small-button jp-gorgon-new-schedule"
              onClick={() => setCreating(true)}
            >
              New schedule
            </button>
          )}
        </div>
        {creating && (
          <ScheduleForm
            client={props.context.client}
            initialNotebook={props.context.currentNotebook() ?? ''}
            onCreated={() => setCreating(false)}
            onCancel={() => setCreating(false)}
          />
        )}
        {schedules.length === 0 ? (
          !creating && (
            <Notice tone="info">
              <WithCode
                text={
                  'No schedules yet. Schedule a notebook here with New schedule, with ' +
                  '`%gorgon schedule report.ipynb --every 1h` in a notebook, or with ' +
                  '`gorgon schedule` in a terminal.'
                }
              />
            </Notice>
          )
        ) : (
          <ul className="jp-gorgon-run-list jp-gorgon-schedule-list">
            {schedules.map(schedule => (
              <ScheduleRow key={schedule.id} schedule={schedule} context={props.context} />
            ))}
          </ul>
        )}
        <div className="jp-gorgon-section-bar">
          <span className="jp-gorgon-subheading">Recent jobs</span>
        </div>
        {jobs.length === 0 ? (
          <Notice tone="info">
            No jobs yet. A schedule queues one each time it fires, and Run now queues one at once.
          </Notice>
        ) : (
          <ul className="jp-gorgon-run-list jp-gorgon-job-list">
            {jobs.map(job => (
              <JobRow key={job.id} job={job} context={props.context} />
            ))}
          </ul>
        )}
      </>
    );
  }
  return (
    <div className="jp-gorgon-scroll">
      <FeedStatus feed={feed} />
      {body}
    </div>
  );
}

/** A request a row's button makes: busy while it goes, its failure said under the row. */
function useAction(): [boolean, string | null, (work: () => Promise<unknown>) => Promise<void>] {
  const [busy, setBusy] = React.useState(false);
  const [problem, setProblem] = React.useState<string | null>(null);
  const run = async (work: () => Promise<unknown>) => {
    setBusy(true);
    setProblem(null);
    try {
      await work();
    } catch (error) {
      setProblem(errorMessage(error));
    } finally {
      setBusy(false);
    }
  };
  return [busy, problem, run];
}

function ScheduleRow(props: { schedule: ISchedule; context: IJobsContext }): JSX.Element {
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
          title="Open this notebook"
          context={context}
        />
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

function JobRow(props: { job: IJob; context: IJobsContext }): JSX.Element {
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
        <dt>notebook</dt>
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

type TriggerKind = 'every' | 'cron' | 'at';

const TRIGGER_HINTS: Record<TriggerKind, string> = {
  every: '1h, 15m, 30s, 1d',
  cron: '0 8 * * MON',
  at: ''
};

/** The request's one trigger field: `{every: "1h"}`, `{cron: "0 8 * * MON"}` or `{at: ...}`. */
function trigger(kind: TriggerKind, when: string): Pick<IScheduleRequest, TriggerKind> {
  switch (kind) {
    case 'every':
      return { every: when };
    case 'cron':
      return { cron: when };
    case 'at':
      return { at: when };
  }
}

/** A new schedule: a notebook, when, and its parameters as key=value lines. */
function ScheduleForm(props: {
  client: GorgonClient;
  initialNotebook: string;
  /** The new schedule is in the feed's next update. */
  onCreated: (schedule: ISchedule) => void;
  onCancel: () => void;
}): JSX.Element {
  const [notebook, setNotebook] = React.useState(props.initialNotebook);
  const [kind, setKind] = React.useState<TriggerKind>('every');
  const [when, setWhen] = React.useState('1h');
  const [parameters, setParameters] = React.useState('');
  const [busy, setBusy] = React.useState(false);
  const [problem, setProblem] = React.useState<string | null>(null);
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';

  const submit = async (event: React.FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setProblem(null);
    const lines = parameters
      .split('\n')
      .map(line => line.trim())
      .filter(Boolean);
    try {
      const schedule = await props.client.createSchedule({
        notebook: notebook.trim(),
        ...trigger(kind, when.trim()),
        ...(kind === 'every' ? {} : { timezone: zone }),
        parameters: lines
      });
      props.onCreated(schedule);
    } catch (error) {
      setProblem(errorMessage(error));
      setBusy(false);
    }
  };

  return (
    <form className="jp-gorgon-card jp-gorgon-schedule-form" onSubmit={event => void submit(event)}>
      <label className="jp-gorgon-field">
        <span>Notebook</span>
        <input
          className="jp-mod-styled jp-gorgon-form-notebook"
          value={notebook}
          placeholder="reports/weekly.ipynb"
          required
          onChange={event => setNotebook(event.currentTarget.value)}
        />
      </label>
      <div className="jp-gorgon-field">
        <span>When</span>
        <div className="jp-gorgon-field-row">
          <HTMLSelect
            className="jp-gorgon-form-kind"
            aria-label="Trigger"
            value={kind}
            options={[
              { value: 'every', label: 'every' },
              { value: 'cron', label: 'cron' },
              { value: 'at', label: 'once at' }
            ]}
            onChange={event => {
              const next = event.currentTarget.value as TriggerKind;
              setKind(next);
              setWhen(next === 'every' ? '1h' : next === 'cron' ? '0 8 * * MON' : '');
            }}
          />
          <input
            className="jp-mod-styled jp-gorgon-form-when"
            aria-label="When"
            type={kind === 'at' ? 'datetime-local' : 'text'}
            value={when}
            placeholder={TRIGGER_HINTS[kind]}
            required
            onChange={event => setWhen(event.currentTarget.value)}
          />
        </div>
        {kind !== 'every' && <span className="jp-gorgon-hint-line">in your time zone, {zone}</span>}
      </div>
      <label className="jp-gorgon-field">
        <span>Parameters</span>
        <textarea
          className="jp-mod-styled jp-gorgon-form-parameters"
          rows={2}
          value={parameters}
          placeholder={'region=EU\ndays=7'}
          onChange={event => setParameters(event.currentTarget.value)}
        />
      </label>
      {problem && (
        <div className="jp-gorgon-inline-error" role="alert">
          {problem}
        </div>
      )}
      <div className="jp-gorgon-buttons">
        <button
          type="button"
          className="jp-Button jp-mod-styled jp-mod-reject"
          onClick={props.onCancel}
          disabled={busy}
        >
          Cancel
        </button>
        <button
          type="submit"
          className="jp-Button jp-mod-styled jp-mod-accept jp-gorgon-form-submit"
          disabled={busy}
        >
          Schedule
        </button>
      </div>
    </form>
  );
}
