/**
 * The one client of the gorgon-nb server API (gorgon_nb/server/API.md): every route under
 * `<base_url>gorgon/api/` and both of its sockets, as typed methods. The panels call these
 * and nothing else reaches the server, so a route's address, method and body are written
 * once, here; a failed request becomes a `GorgonApiError` whose message a person can act on.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import {
  CancelResult,
  ChatRequest,
  Decision,
  IApproval,
  IApprovalsQuery,
  IDelivery,
  IJob,
  IJobsQuery,
  IMessage,
  IRole,
  IRun,
  IRunSummary,
  IRunsQuery,
  ISchedule,
  IScheduleRequest,
  ISession,
  IToolGroup,
  IWebhook,
  IWorkflowInfo
} from './api';
import { ReconnectingSocket } from './socket';

/** Where the server extension serves its routes, under the server's base URL. */
const API_PATH = 'gorgon/api';

const MISSING_HINT =
  'This Jupyter server has no gorgon-nb API (or an older one than this sidebar). ' +
  'Enable it with `jupyter server extension enable gorgon_nb.server`, or reinstall ' +
  'gorgon-nb in the environment that runs JupyterLab, then restart JupyterLab.';

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

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

type QueryValue = string | number | boolean | undefined;

/** `path` with the query's given values (none: no `?`). */
function withQuery(path: string, query: { [name: string]: QueryValue }): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    if (value !== undefined) {
      params.set(name, String(value));
    }
  }
  const text = params.toString();
  return text ? `${path}?${text}` : path;
}

/** `collection/<id>/rest...`, the id encoded (ids, prefixes and names come from people). */
function item(collection: string, id: string, ...rest: string[]): string {
  return [collection, encodeURIComponent(id), ...rest].join('/');
}

export class GorgonClient {
  /** `settings`: the Jupyter server to talk to (by default the page's own). */
  constructor(settings: ServerConnection.ISettings = ServerConnection.makeSettings()) {
    this.settings = settings;
  }

  readonly settings: ServerConnection.ISettings;

  // -- runs ------------------------------------------------------------------------------------

  async listRuns(query: IRunsQuery = {}): Promise<IRunSummary[]> {
    const { runs } = await this._get<{ runs: IRunSummary[] }>(withQuery('runs', { ...query }));
    return runs;
  }

  /** A run with its steps and approvals; `runId` may be a prefix the server resolves. */
  async getRun(runId: string): Promise<IRun> {
    const { run } = await this._get<{ run: IRun }>(item('runs', runId));
    return run;
  }

  async cancelRun(runId: string): Promise<CancelResult> {
    const { result } = await this._post<{ result: CancelResult }>(item('runs', runId, 'cancel'));
    return result;
  }

  // -- approvals -------------------------------------------------------------------------------

  async listApprovals(query: IApprovalsQuery = {}): Promise<IApproval[]> {
    const path = withQuery('approvals', { ...query });
    const { approvals } = await this._get<{ approvals: IApproval[] }>(path);
    return approvals;
  }

  getApproval(approvalId: string): Promise<IApproval> {
    return this._get<IApproval>(item('approvals', approvalId));
  }

  /** The decided approval; 409 when it was decided already, 403 when not an allowed approver. */
  decide(approvalId: string, decision: Decision, comment: string | null): Promise<IApproval> {
    return this._post<IApproval>(item('approvals', approvalId), { decision, comment });
  }

  // -- chat ------------------------------------------------------------------------------------

  /** The sessions, newest activity first. */
  async listSessions(): Promise<ISession[]> {
    const { sessions } = await this._get<{ sessions: ISession[] }>('chat/sessions');
    return sessions;
  }

  createSession(title?: string): Promise<ISession> {
    return this._post<ISession>('chat/sessions', title === undefined ? {} : { title });
  }

  renameSession(sessionId: string, title: string): Promise<ISession> {
    return this._request<ISession>(item('chat/sessions', sessionId), {
      method: 'PATCH',
      body: JSON.stringify({ title })
    });
  }

  deleteSession(sessionId: string): Promise<void> {
    return this._delete(item('chat/sessions', sessionId));
  }

  /** A session's messages, oldest first; those being written with their text so far. */
  async listMessages(sessionId: string): Promise<IMessage[]> {
    const path = item('chat/sessions', sessionId, 'messages');
    const { messages } = await this._get<{ messages: IMessage[] }>(path);
    return messages;
  }

  /** The roles a message can ask with `@role`. */
  async listRoles(): Promise<IRole[]> {
    const { roles } = await this._get<{ roles: IRole[] }>('chat/roles');
    return roles;
  }

  /** The workflows a message can start with `/run`. */
  async listWorkflows(): Promise<IWorkflowInfo[]> {
    const { workflows } = await this._get<{ workflows: IWorkflowInfo[] }>('chat/workflows');
    return workflows;
  }

  /** A session's socket: its messages and the streamed text of the answer being written. */
  chatSocket(sessionId: string): ReconnectingSocket<ChatRequest> {
    return this._socket<ChatRequest>(item('chat/sessions', sessionId, 'ws'));
  }

  // -- schedules and jobs ----------------------------------------------------------------------

  /** Every schedule, oldest first. */
  async listSchedules(): Promise<ISchedule[]> {
    const { schedules } = await this._get<{ schedules: ISchedule[] }>('schedules');
    return schedules;
  }

  /** `ref`: an id, an unambiguous prefix or the schedule's name. */
  getSchedule(ref: string): Promise<ISchedule> {
    return this._get<ISchedule>(item('schedules', ref));
  }

  createSchedule(request: IScheduleRequest): Promise<ISchedule> {
    return this._post<ISchedule>('schedules', request);
  }

  pauseSchedule(ref: string): Promise<ISchedule> {
    return this._post<ISchedule>(item('schedules', ref, 'pause'));
  }

  /** Fires from now on: what fell due while it was paused is not run. */
  resumeSchedule(ref: string): Promise<ISchedule> {
    return this._post<ISchedule>(item('schedules', ref, 'resume'));
  }

  /** A job of the schedule queued to run now, whatever its trigger says. */
  async runSchedule(ref: string): Promise<IJob> {
    const { job } = await this._post<{ job: IJob }>(item('schedules', ref, 'run'));
    return job;
  }

  /** The schedule goes; its jobs stay listed. */
  deleteSchedule(ref: string): Promise<void> {
    return this._delete(item('schedules', ref));
  }

  /** Jobs, newest first. */
  async listJobs(query: IJobsQuery = {}): Promise<IJob[]> {
    const { jobs } = await this._get<{ jobs: IJob[] }>(withQuery('jobs', { ...query }));
    return jobs;
  }

  async getJob(jobId: string): Promise<IJob> {
    const { job } = await this._get<{ job: IJob }>(item('jobs', jobId));
    return job;
  }

  /** A queued job is cancelled at once, a running one asked to stop; 409 when it ended. */
  async cancelJob(jobId: string): Promise<CancelResult> {
    const { result } = await this._post<{ result: CancelResult }>(item('jobs', jobId, 'cancel'));
    return result;
  }

  // -- tools ---------------------------------------------------------------------------------

  /**
   * The tools agents can be given, by tool set and MCP server (`ref`: one of them); the
   * server starts each declared MCP server to list its tools, so this may take seconds.
   */
  async listTools(ref?: string): Promise<IToolGroup[]> {
    const { groups } = await this._get<{ groups: IToolGroup[] }>(withQuery('tools', { ref }));
    return groups;
  }

  // -- webhooks --------------------------------------------------------------------------------

  async listWebhooks(): Promise<IWebhook[]> {
    return (await this._get<{ webhooks: IWebhook[] }>('webhooks')).webhooks;
  }

  /** The recent deliveries of every webhook, newest first. */
  async listDeliveries(limit = 30): Promise<IDelivery[]> {
    const path = withQuery('webhook-deliveries', { limit });
    return (await this._get<{ deliveries: IDelivery[] }>(path)).deliveries;
  }

  /** Start a failed or rate-limited delivery again; the new delivery. */
  async replayDelivery(deliveryId: string): Promise<IDelivery> {
    const path = item('webhook-deliveries', deliveryId, 'replay');
    return (await this._post<{ delivery: IDelivery }>(path)).delivery;
  }

  // -- the event feed --------------------------------------------------------------------------

  /** The feed of recent runs, pending approvals, schedules and jobs; it takes no frames. */
  eventsSocket(): ReconnectingSocket<never> {
    return this._socket<never>('events');
  }

  /**
   * After a socket failed: what the REST side says about the API, or null when it answers.
   */
  async diagnose(): Promise<GorgonApiError | null> {
    try {
      await this.listApprovals({ limit: 1 });
      return null;
    } catch (error) {
      return error instanceof GorgonApiError
        ? error
        : new GorgonApiError(errorMessage(error), 'server');
    }
  }

  // -- the transport ---------------------------------------------------------------------------

  private _get<T>(path: string): Promise<T> {
    return this._request<T>(path);
  }

  /** A POST with a JSON body; the routes that take none are sent `{}`. */
  private _post<T>(path: string, body: unknown = {}): Promise<T> {
    return this._request<T>(path, { method: 'POST', body: JSON.stringify(body) });
  }

  private _delete(path: string): Promise<void> {
    return this._request<void>(path, { method: 'DELETE' });
  }

  /**
   * Call `<base_url>gorgon/api/<path>` and decode its JSON answer (`undefined` for 204).
   */
  private async _request<T>(path: string, init: RequestInit = {}): Promise<T> {
    const config = this.settings;
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

  /**
   * A socket to `path`, with the token as JupyterLab's own kernel connections add it (only
   * when the settings ask for it; otherwise the login cookie authenticates the socket).
   */
  private _socket<TSend>(path: string): ReconnectingSocket<TSend> {
    const config = this.settings;
    let url = URLExt.join(config.wsUrl, API_PATH, path);
    if (config.appendToken && config.token !== '') {
      url += `${url.includes('?') ? '&' : '?'}token=${encodeURIComponent(config.token)}`;
    }
    return new ReconnectingSocket<TSend>(url, config.WebSocket);
  }
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
