/**
 * The shapes of the gorgon-nb server API (gorgon_nb/server/API.md): what its answers and
 * feed frames hold, and what its requests take. Only the client (client.ts) talks to the
 * server; the panels read these shapes.
 */

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
    /** The tool calls of an answer, in order (the latest ones), and how many earlier were left out. */
    tool_calls?: IToolCall[];
    tool_calls_dropped?: number;
  } | null;
  created_at: number;
  updated_at: number;
}

/** A tool call of an agent's answer, as its message carries it. */
export interface IToolCall {
  index: number;
  tool: string;
  /** Its arguments as compact JSON, cut. */
  arguments: string;
  status: 'running' | 'waiting' | 'ok' | 'error' | 'rejected' | string;
  /** The start of what the tool answered. */
  result: string;
  recorded: boolean;
  /** The id of its approval, when it asked one. */
  approval?: string;
}

export interface IRole {
  name: string;
  description: string;
  icon: string;
}

/** A tool an agent can be given (`GET tools`): `writes` ones wait for approval by default. */
export interface ITool {
  /** Its reference in a step's `tools`: `files.read_file`, `mcp:fs/read_text_file`. */
  name: string;
  writes: boolean;
  runs_code: boolean;
  /** The first line of its description. */
  description: string;
}

/** The tools of one tool set or one MCP server, or why they could not be listed. */
export interface IToolGroup {
  /** `files`, `mcp:fs`. */
  ref: string;
  description: string;
  origin: string;
  /** Why it lists nothing (an MCP server that does not start). */
  error: string | null;
  /** Why it lists nothing, when that is no error. */
  note: string | null;
  tools: ITool[];
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
  /** `notebook` names a notebook (.ipynb), else a workflow (a file or a name). */
  kind: 'notebook' | 'workflow';
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
  /** `notebook` names a notebook (.ipynb), else a workflow (a file or a name). */
  kind: 'notebook' | 'workflow';
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

// -- what the requests take --------------------------------------------------------------------

/** `GET runs`: the server's defaults are the 50 newest, every status, chat turns left out. */
export interface IRunsQuery {
  limit?: number;
  status?: RunStatus;
  workflow?: string;
  chat?: boolean;
}

export type ApprovalStatusFilter = 'pending' | 'all' | 'approved' | 'rejected' | 'cancelled';

/** `GET approvals`: the server's defaults are the pending ones, 100 at most. */
export interface IApprovalsQuery {
  status?: ApprovalStatusFilter;
  run?: string;
  limit?: number;
}

/** `GET jobs`: the server's defaults are the 50 newest of every schedule and state. */
export interface IJobsQuery {
  limit?: number;
  /** An id, a prefix or a name. */
  schedule?: string;
  state?: JobState;
}

export type Decision = 'approve' | 'reject';

/**
 * The body of `POST schedules`: a notebook and exactly one of `every`, `cron` or `at`.
 * Durations are seconds or texts like `30s`, `15m`, `2h`, `1d`; `parameters` are papermill's,
 * as an object or as `key=value` lines typed as `gorgon schedule -p` types them.
 */
export interface IScheduleRequest {
  notebook: string;
  every?: string | number;
  cron?: string;
  at?: string;
  timezone?: string;
  parameters?: Record<string, unknown> | string[];
  /** A workflow's consent to run code (shell, notebook and python steps). */
  allow_code?: boolean;
  retries?: number;
  backoff?: string | number;
  timeout?: string | number;
  missed?: 'skip' | 'catch_up';
  overlap?: 'skip' | 'queue';
  keep?: number;
  name?: string;
}

/** What a cancel did: `cancelled` at once, or `requested` of the process that runs it. */
export type CancelResult = 'cancelled' | 'requested';

/** A frame the chat socket takes: a message to send, or stop the answer being written. */
export type ChatRequest = { type: 'send'; text: string } | { type: 'stop' };

// -- webhooks (API.md, "Webhooks") ---------------------------------------------------------

export interface IWebhook {
  name: string;
  workflow: string;
  secret_source: string;
  secret_set: boolean;
  rate: number;
  paused: boolean;
  description: string;
  url_path: string;
}

export type DeliveryStatus = 'accepted' | 'duplicate' | 'rate_limited' | 'refused' | 'failed';

export interface IDelivery {
  id: string;
  webhook: string;
  delivery_id: string;
  received_at: number;
  status: DeliveryStatus;
  reason: string;
  event: string;
  job_id: string | null;
  job_state: string | null;
  run_id: string | null;
  replay_of: string | null;
  replayable: boolean;
}
