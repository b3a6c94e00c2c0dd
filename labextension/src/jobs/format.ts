/**
 * Schedules and jobs in words: their states, triggers and parameters as the tab shows them.
 */
import { ISchedule } from '../api';
import { formatTime, plural } from '../format';

const STATE_LABELS: Record<string, string> = { timed_out: 'timed out' };

export function stateLabel(state: string): string {
  return STATE_LABELS[state] ?? state;
}

export function basename(path: string): string {
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

export function parametersText(parameters: Record<string, unknown>): string {
  return Object.entries(parameters)
    .map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`)
    .join(' ');
}
