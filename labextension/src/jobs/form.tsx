/**
 * The form of a new schedule in the Jobs tab.
 */
import { HTMLSelect } from '@jupyterlab/ui-components';
import * as React from 'react';

import { IScheduleRequest, ISchedule } from '../api';
import { GorgonClient, errorMessage } from '../client';

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

/**
 * A new schedule: a notebook or a workflow (a file under the root, or a workflow's name),
 * when, and its parameters (a workflow's inputs) as key=value lines.
 */
export function ScheduleForm(props: {
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
  const [allowCode, setAllowCode] = React.useState(false);
  const isWorkflow = notebook.trim() !== '' && !notebook.trim().toLowerCase().endsWith('.ipynb');
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
        parameters: lines,
        ...(isWorkflow ? { allow_code: allowCode } : {})
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
        <span>Notebook or workflow</span>
        <input
          className="jp-mod-styled jp-gorgon-form-notebook"
          value={notebook}
          placeholder="reports/weekly.ipynb, flows/report.yaml or a workflow's name"
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
        <span>{isWorkflow ? 'Inputs' : 'Parameters'}</span>
        <textarea
          className="jp-mod-styled jp-gorgon-form-parameters"
          rows={2}
          value={parameters}
          placeholder={'region=EU\ndays=7'}
          onChange={event => setParameters(event.currentTarget.value)}
        />
      </label>
      {isWorkflow && (
        <label className="jp-gorgon-field-check">
          <input
            type="checkbox"
            className="jp-gorgon-form-allow-code"
            checked={allowCode}
            onChange={event => setAllowCode(event.currentTarget.checked)}
          />
          <span>Let it run code on this machine (only for workflows you trust)</span>
        </label>
      )}
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
