/**
 * The `events` feed: recent runs, pending approvals, schedules and jobs, pushed by the
 * server whenever they change. One feed serves every panel and the sidebar's badge.
 */
import { IDisposable } from '@lumino/disposable';
import { ISignal, Signal } from '@lumino/signaling';

import { IApproval, IJob, IRunSummary, ISchedule, ISchedulerState } from './api';
import { GorgonApiError, GorgonClient } from './client';
import { ReconnectingSocket, SocketState } from './socket';

export class EventFeed implements IDisposable {
  constructor(client: GorgonClient) {
    this._client = client;
    this._socket = client.eventsSocket();
    this._socket.received.connect(this._onMessage, this);
    this._socket.stateChanged.connect(this._onState, this);
  }

  /** Recent runs, newest first; null until the first update. */
  get runs(): IRunSummary[] | null {
    return this._runs;
  }

  /** Every pending approval; null until the first update. */
  get approvals(): IApproval[] | null {
    return this._approvals;
  }

  /** Recent jobs, newest first; null until the first update. */
  get jobs(): IJob[] | null {
    return this._jobs;
  }

  /** Every schedule, oldest first; null until the first update. */
  get schedules(): ISchedule[] | null {
    return this._schedules;
  }

  /** Whether a scheduler runs queued jobs now; null until the first update. */
  get scheduler(): ISchedulerState | null {
    return this._scheduler;
  }

  get state(): SocketState {
    return this._socket.state;
  }

  /**
   * What keeps the feed from working: the API is missing or the server unreachable (asked
   * of the REST side after the socket failed), or the server could not read the store.
   */
  get problem(): GorgonApiError | null {
    return this._problem;
  }

  /** Anything above changed. */
  get changed(): ISignal<this, void> {
    return this._changed;
  }

  get isDisposed(): boolean {
    return this._socket.isDisposed;
  }

  run(runId: string): IRunSummary | null {
    return this._runs?.find(run => run.run_id === runId) ?? null;
  }

  reconnect(): void {
    this._socket.reconnect();
  }

  dispose(): void {
    this._socket.dispose();
    Signal.clearData(this);
  }

  private _onMessage(_: ReconnectingSocket<never>, data: any): void {
    switch (data?.type) {
      case 'runs':
        this._runs = Array.isArray(data.runs) ? data.runs : [];
        break;
      case 'approvals':
        this._approvals = Array.isArray(data.approvals) ? data.approvals : [];
        break;
      case 'jobs':
        this._jobs = Array.isArray(data.jobs) ? data.jobs : [];
        this._schedules = Array.isArray(data.schedules) ? data.schedules : [];
        this._scheduler = data.scheduler ?? null;
        break;
      case 'error':
        this._problem = new GorgonApiError(String(data.message), 'server');
        this._changed.emit();
        return;
      default:
        return;
    }
    if (this._problem?.kind === 'server') {
      this._problem = null; // the store can be read again
    }
    this._changed.emit();
  }

  private _onState(_: ReconnectingSocket<never>, state: SocketState): void {
    if (state === 'open') {
      this._problem = null;
    } else if (state === 'reconnecting' && this._socket.failures === 1) {
      // ask the REST side why, once per outage: a 404 means the API is missing, a network
      // error that the server is gone
      void this._client.diagnose().then(problem => {
        if (this._socket.state !== 'open') {
          this._problem = problem;
          this._changed.emit();
        }
      });
    }
    this._changed.emit();
  }

  private _client: GorgonClient;
  private _socket: ReconnectingSocket<never>;
  private _runs: IRunSummary[] | null = null;
  private _approvals: IApproval[] | null = null;
  private _jobs: IJob[] | null = null;
  private _schedules: ISchedule[] | null = null;
  private _scheduler: ISchedulerState | null = null;
  private _problem: GorgonApiError | null = null;
  private _changed = new Signal<this, void>(this);
}
