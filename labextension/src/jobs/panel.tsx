/**
 * The Jobs tab: scheduled notebooks and workflows (schedule-row.tsx) and their recent jobs
 * (job-row.tsx), live from the event feed, the form of a new schedule (form.tsx), and the
 * webhooks that start jobs with their deliveries (../webhooks/panel.tsx).
 */
import { ReactWidget } from '@jupyterlab/ui-components';
import * as React from 'react';

import { FeedStatus, Notice, WithCode } from '../components';
import { WebhooksSection } from '../webhooks/panel';
import { ScheduleForm } from './form';
import { JobRow } from './job-row';
import { ScheduleRow } from './schedule-row';
import { IJobsContext } from './context';

const CLOCK_MS = 30_000; // "in 5 min" and "3 min ago" stay true

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
        <WebhooksSection client={props.context.client} />
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
