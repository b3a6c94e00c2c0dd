/**
 * A WebSocket that reconnects with backoff when it drops, and speaks JSON. It knows no
 * address of its own: the client (client.ts) opens it at one of the API's sockets.
 */
import { IDisposable } from '@lumino/disposable';
import { ISignal, Signal } from '@lumino/signaling';

/**
 * `connecting` before the first open, `open`, `reconnecting` after a drop (a new
 * attempt is planned), `closed` once disposed.
 */
export type SocketState = 'connecting' | 'open' | 'reconnecting' | 'closed';

const FIRST_DELAY = 500; // ms
const MAX_DELAY = 15_000; // ms
// a connection closed sooner than this after it opened counts as a failed attempt, so a
// server that accepts and drops at once is not asked again twice a second
const STABLE = 5_000; // ms

/** `TSend`: the frames the server takes on this socket. */
export class ReconnectingSocket<TSend = unknown> implements IDisposable {
  /** `Socket`: the WebSocket class the server settings name. */
  constructor(url: string, Socket: typeof WebSocket) {
    this._url = url;
    this._Socket = Socket;
    this._connect();
  }

  get state(): SocketState {
    return this._state;
  }

  /** How many attempts in a row failed (0 once a connection has lasted). */
  get failures(): number {
    return this._failures;
  }

  get stateChanged(): ISignal<this, SocketState> {
    return this._stateChanged;
  }

  /** Every JSON message the server sends. */
  get received(): ISignal<this, any> {
    return this._received;
  }

  get isDisposed(): boolean {
    return this._state === 'closed';
  }

  send(data: TSend): boolean {
    if (this._ws?.readyState !== WebSocket.OPEN) {
      return false;
    }
    this._ws.send(JSON.stringify(data));
    return true;
  }

  /** Try again now rather than at the planned time. */
  reconnect(): void {
    if (this._state !== 'reconnecting') {
      return;
    }
    window.clearTimeout(this._timer);
    this._connect();
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    window.clearTimeout(this._timer);
    this._setState('closed');
    const ws = this._ws;
    this._ws = null;
    if (ws) {
      ws.onopen = ws.onclose = ws.onmessage = ws.onerror = null;
      ws.close();
    }
    Signal.clearData(this);
  }

  private _connect(): void {
    const ws = new this._Socket(this._url);
    this._ws = ws;
    let openedAt = 0;
    ws.onopen = () => {
      openedAt = Date.now();
      this._setState('open');
    };
    ws.onmessage = event => {
      let data: any;
      try {
        data = JSON.parse(String(event.data));
      } catch {
        return;
      }
      this._received.emit(data);
    };
    ws.onclose = () => {
      if (this._ws !== ws) {
        return;
      }
      this._ws = null;
      const lasted = openedAt > 0 && Date.now() - openedAt >= STABLE;
      this._failures = (lasted ? 0 : this._failures) + 1;
      // exponential, with jitter so many tabs do not come back at once
      const delay = Math.min(MAX_DELAY, FIRST_DELAY * 2 ** (this._failures - 1));
      const wait = delay * (0.75 + Math.random() * 0.5);
      this._timer = window.setTimeout(() => this._connect(), wait);
      this._setState('reconnecting');
    };
  }

  private _setState(state: SocketState): void {
    // a failed attempt while reconnecting is news too: its count and next time changed
    if (state !== this._state || state === 'reconnecting') {
      this._state = state;
      this._stateChanged.emit(state);
    }
  }

  private _url: string;
  private _Socket: typeof WebSocket;
  private _ws: WebSocket | null = null;
  private _state: SocketState = 'connecting';
  private _failures = 0;
  private _timer = 0;
  private _stateChanged = new Signal<this, SocketState>(this);
  private _received = new Signal<this, any>(this);
}
