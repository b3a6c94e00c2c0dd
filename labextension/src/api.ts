/**
 * The gorgon-nb server API (gorgon_nb/server/API.md): its types, and requests whose
 * failures become messages a person can act on.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

export const API_PATH = 'gorgon/api';

const MISSING_HINT =
  'This Jupyter server has no gorgon-nb API (or an older one than this sidebar). ' +
  'Enable it with `jupyter server extension enable gorgon_nb.server`, or reinstall ' +
  'gorgon-nb in the environment that runs JupyterLab, then restart JupyterLab.';

export interface ITokens {
  input: number;
  output: number;
  total: number;
}

/** A run's status as every surface shows it; `stopped`: running or waiting, but its process is gone. */
export type RunStatus = 'running' | 'waiting' | 'succeeded' | 'failed' | 'cancelled' | 'stopped';

export interface IRunSummary {
  run_id: string;
  workflow_id: string;
  workflow_name: string | null;
  status: RunStatus;
  stopped: boolean;
  started_at: number | null;
  ended_at: number | null;
  duration: number | null;
  tokens: ITokens;
  cost_usd: number | null;
  cost: string;
  error: string | null;
  waiting: number;
}

export interface IStep {
  key: string;
  step_id: string;
  kind: string;
  role: string | null;
  status: string;
  model: string | null;
  started_at: number | null;
  ended_at: number | null;
  duration: number | null;
  tokens: ITokens;
  cost: string;
  output: unknown;
  output_html: string | null;
  error: string | null;
}

export interface IRun extends IRunSummary {
  inputs: Record<string, unknown>;
  outputs: Record<string, unknown>;
  notices: string[];
  source_path: string | null;
  steps: IStep[];
  approvals: IApproval[];
}

export interface IApproval {
  id: string;
  run_id: string;
  step_key: string;
  kind: string;
  round: number;
  title: string;
  preview: string;
  preview_html: string | null;
  approvers: string[];
  status: string;
  requested_at: number | null;
  timeout_at: number | null;
  on_timeout: string;
  decided_by: string | null;
  decided_at: number | null;
  comment: string | null;
  timed_out: boolean;
  run_alive: boolean;
}

export interface ISession {
  id: string;
  title: string;
  created_at: number;
  updated_at: number;
  preview: string | null;
}

export type MessageStatus = 'streaming' | 'done' | 'stopped' | 'error' | 'interrupted';

export interface IDelegation {
  index: number;
  role: string;
  task: string;
}

export interface IMessage {
  id: string;
  session_id: string;
  seq: number;
  role: 'user' | 'agent' | 'workflow';
  agent: string | null;
  icon: string | null;
  content: string;
  status: MessageStatus;
  parent_id: string | null;
  run_id: string | null;
  meta: {
    delegation?: IDelegation;
    workflow?: string;
    inputs?: Record<string, unknown>;
    /** Why the answer or the run failed (status `error`). */
    error?: string | null;
    notices?: string[];
    usage?: { model: string | null; tokens: number; cost_usd: number | null };
    /** A /run message's steps, `{key: status}`, and the approval its run waits for. */
    steps?: Record<string, string>;
    waiting?: string;
  } | null;
  created_at: number;
  updated_at: number;
}

export interface IRole {
  name: string;
  description: string;
  icon: string;
}

export interface IWorkflowInfo {
  name: string;
  description: string;
  inputs: Record<string, { type?: string; required?: boolean; default?: unknown }>;
}

export type JobState = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled' | 'timed_out';

export interface IJob {
  id: string;
  schedule_id: string | null;
  root: string;
  notebook: string;
  parameters: Record<string, unknown>;
  state: JobState;
  attempt: number;
  max_attempts: number;
  timeout: number | null;
  /** When it was due. */
  scheduled_for: number;
  not_before: number;
  queued_at: number;
  started_at: number | null;
  ended_at: number | null;
  duration: number | null;
  cancel_requested: boolean;
  /** The executed notebook, relative to `root`. */
  output_path: string | null;
  /** The executed notebook under the server's root, for `docmanager:open`; null when none. */
  notebook_url_path: string | null;
  /** Why JupyterLab cannot open the executed notebook, when there is one it cannot. */
  notebook_unavailable: string | null;
  error: string | null;
  failed_cell: number | null;
  exception: string | null;
  run_ids: string[];
  cost_usd: number | null;
}

export interface ISchedule {
  id: string;
  name: string;
  root: string;
  notebook: string;
  notebook_url_path: string | null;
  parameters: Record<string, unknown>;
  cron: string | null;
  timezone: string;
  every: number | null;
  at: number | null;
  /** In words: "every 3600s", "cron 0 8 * * MON (UTC)", "once". */
  trigger: string;
  retries: number;
  timeout: number | null;
  paused: boolean;
  next_run_at: number | null;
  created_at: number;
  /** Its jobs queued or running. */
  active: number;
  last_job: { id: string; state: JobState; ended_at: number | null } | null;
}

/** Whether a scheduler holds the lease, so queued jobs start. */
export interface ISchedulerState {
  running: boolean;
  owner: string | null;
}

/**
 * Why a request failed, in words for the panel: `disabled` (no gorgon API on this
 * server), `network` (the server cannot be reached) or `server` (the API answered with an
 * error, whose message it wrote).
 */
export class GorgonApiError extends Error {
  constructor(
    message: string,
    readonly kind: 'disabled' | 'network' | 'server',
    readonly status: number | null = null
  ) {
    super(message);
  }
}

let settings: ServerConnection.ISettings | null = null;

export function serverSettings(): ServerConnection.ISettings {
  if (!settings) {
    settings = ServerConnection.makeSettings();
  }
  return settings;
}

/**
 * Call `<base_url>gorgon/api/<path>` and decode its JSON answer (`undefined` for 204).
 */
export async function requestAPI<T>(path: string, init: RequestInit = {}): Promise<T> {
  const config = serverSettings();
  const url = URLExt.join(config.baseUrl, API_PATH, path);
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, init, config);
  } catch (error) {
    throw new GorgonApiError(
      `Cannot reach the Jupyter server (${(error as Error).message}): ` +
        'check that JupyterLab is still running.',
      'network'
    );
  }
  if (response.status === 204) {
    return undefined as T;
  }
  const text = await response.text();
  let body: any = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  if (response.ok) {
    return body as T;
  }
  throw errorFromResponse(response.status, response.statusText, body);
}

function errorFromResponse(status: number, statusText: string, body: any): GorgonApiError {
  if (body && body.api === 'gorgon' && typeof body.message === 'string') {
    return new GorgonApiError(body.message, 'server', status);
  }
  if (status === 404) {
    return new GorgonApiError(MISSING_HINT, 'disabled', status);
  }
  if (status === 403 || status === 401) {
    return new GorgonApiError(
      `The Jupyter server refused the request (${status} ${statusText}): ` +
        'your login may have expired; reload the page and log in again.',
      'server',
      status
    );
  }
  const detail = body && typeof body.message === 'string' ? `: ${body.message}` : '';
  return new GorgonApiError(
    `The Jupyter server answered ${status} ${statusText}${detail}. ` +
      "The server's log has the details.",
    'server',
    status
  );
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export function postJSON<T>(path: string, body: unknown): Promise<T> {
  return requestAPI<T>(path, { method: 'POST', body: JSON.stringify(body) });
}

export function deleteAPI(path: string): Promise<void> {
  return requestAPI<void>(path, { method: 'DELETE' });
}

/**
 * The WebSocket address of `path`, with the token as JupyterLab's own kernel
 * connections add it (only when the settings ask for it; otherwise the login cookie
 * authenticates the socket).
 */
export function socketUrl(path: string): string {
  const config = serverSettings();
  let url = URLExt.join(config.wsUrl, API_PATH, path);
  if (config.appendToken && config.token !== '') {
    url += `${url.includes('?') ? '&' : '?'}token=${encodeURIComponent(config.token)}`;
  }
  return url;
}

/**
 * After a socket failed: what the REST side says about the API, or null when it answers.
 */
export async function diagnose(): Promise<GorgonApiError | null> {
  try {
    await requestAPI('approvals?limit=1');
    return null;
  } catch (error) {
    return error instanceof GorgonApiError
      ? error
      : new GorgonApiError(errorMessage(error), 'server');
  }
}
