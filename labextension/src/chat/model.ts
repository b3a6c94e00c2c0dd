/**
 * The chat's state: the sessions, the messages of the open one, and its socket, which
 * brings new messages and the streamed text of the answer being written.
 */
import { VDomModel } from '@jupyterlab/ui-components';

import { ChatRequest, IMessage, IRole, ISession, IWorkflowInfo } from '../api';
import { GorgonApiError, GorgonClient, errorMessage } from '../client';
import { ReconnectingSocket, SocketState } from '../socket';

function asApiError(error: unknown): GorgonApiError {
  return error instanceof GorgonApiError
    ? error
    : new GorgonApiError(errorMessage(error), 'server');
}

export class ChatModel extends VDomModel {
  /** `remember` keeps the open session's id (for the next page load). */
  constructor(client: GorgonClient, remember: (sessionId: string | null) => void) {
    super();
    this._client = client;
    this._remember = remember;
  }

  /** The sessions, newest activity first; null while loading or when loading failed. */
  sessions: ISession[] | null = null;
  /** Why the sessions could not be listed. */
  sessionsError: GorgonApiError | null = null;
  currentId: string | null = null;
  /** The open session's messages, oldest first; null while loading. */
  messages: IMessage[] | null = null;
  messagesError: GorgonApiError | null = null;
  roles: IRole[] = [];
  workflows: IWorkflowInfo[] = [];
  /** The last request the server turned down, or an action that failed; cleared on send. */
  notice: string | null = null;

  get current(): ISession | null {
    return this.sessions?.find(s => s.id === this.currentId) ?? null;
  }

  get socketState(): SocketState | null {
    return this._socket?.state ?? null;
  }

  /** True while an answer in the open session is being generated. */
  get answering(): boolean {
    return !!this.messages?.some(m => m.status === 'streaming');
  }

  async start(preferredId: string | null): Promise<void> {
    void this._loadHints();
    await this.refreshSessions();
    if (this.currentId) {
      return; // a chat was opened or started while the list loaded: it stays open
    }
    const sessions = this.sessions ?? [];
    const first = sessions.find(s => s.id === preferredId) ?? sessions[0];
    if (first) {
      await this.select(first.id);
    }
  }

  async refreshSessions(): Promise<void> {
    const changes = this._changes;
    try {
      const sessions = await this._client.listSessions();
      if (changes !== this._changes) {
        // a chat was started, renamed or deleted while the list loaded: the list is stale
        return this.refreshSessions();
      }
      this.sessions = sessions;
      this.sessionsError = null;
    } catch (error) {
      this.sessionsError = asApiError(error);
    }
    this.stateChanged.emit();
  }

  /** Retry after an error: the sessions, then the open session's messages. */
  async retry(): Promise<void> {
    await this.refreshSessions();
    if (this.currentId) {
      await this.select(this.currentId);
    } else if (this.sessions?.length) {
      await this.select(this.sessions[0].id);
    }
  }

  async select(id: string): Promise<void> {
    if (this.currentId !== id) {
      this._closeSocket();
      this.currentId = id;
      this.messages = null;
      this.notice = null;
      this._remember(id);
    }
    this.messagesError = null;
    this.stateChanged.emit();
    if (!this._socket) {
      this._openSocket(id);
    }
    await this._loadMessages(id);
  }

  async create(): Promise<void> {
    try {
      const session = await this._client.createSession();
      this._changes++;
      this.sessions = [session, ...(this.sessions ?? []).filter(s => s.id !== session.id)];
      await this.select(session.id);
    } catch (error) {
      this._fail('Could not start a new chat', error);
    }
  }

  async rename(id: string, title: string): Promise<void> {
    const clean = title.trim();
    if (!clean) {
      return;
    }
    try {
      const session = await this._client.renameSession(id, clean);
      this._changes++;
      this.sessions = (this.sessions ?? []).map(s => (s.id === id ? session : s));
    } catch (error) {
      this._fail('Could not rename the chat', error);
    }
    this.stateChanged.emit();
  }

  async remove(id: string): Promise<void> {
    try {
      await this._client.deleteSession(id);
      this._changes++;
    } catch (error) {
      this._fail('Could not delete the chat', error);
      return;
    }
    this.sessions = (this.sessions ?? []).filter(s => s.id !== id);
    if (this.currentId === id) {
      this._closeSocket();
      this.currentId = null;
      this.messages = null;
      this._remember(null);
      const next = this.sessions[0];
      if (next) {
        await this.select(next.id);
        return;
      }
    }
    this.stateChanged.emit();
  }

  /** Send a message on the open session's socket; false (with a notice) when it is not open. */
  send(text: string): boolean {
    if (!text.trim()) {
      return false;
    }
    const socket = this._socket;
    if (socket?.state === 'connecting') {
      this._queued.push(text); // a new chat's socket is opening: sent once it is open
    } else if (!this._sendOn(socket, text)) {
      this.notice = 'Not connected to the chat: wait for it to reconnect, then send again.';
      this.stateChanged.emit();
      return false;
    }
    this.notice = null;
    this.stateChanged.emit();
    return true;
  }

  /**
   * The text of the last message the server turned down (it says why in `notice`), once:
   * the input takes it back so nothing typed is lost.
   */
  takeReturned(): string | null {
    const text = this._returned;
    this._returned = null;
    return text;
  }

  stop(): void {
    this._socket?.send({ type: 'stop' });
  }

  reconnect(): void {
    this._socket?.reconnect();
  }

  dispose(): void {
    this._closeSocket();
    window.clearTimeout(this._refreshTimer);
    super.dispose();
  }

  private async _loadHints(): Promise<void> {
    try {
      const [roles, workflows] = await Promise.all([
        this._client.listRoles(),
        this._client.listWorkflows()
      ]);
      this.roles = roles;
      this.workflows = workflows;
      this.stateChanged.emit();
    } catch {
      // only the input's suggestions need them; the sessions' error says what is wrong
    }
  }

  private async _loadMessages(id: string): Promise<void> {
    try {
      const messages = await this._client.listMessages(id);
      if (this.currentId === id) {
        this.messages = messages;
        this.messagesError = null;
      }
    } catch (error) {
      if (this.currentId === id) {
        this.messagesError = asApiError(error);
      }
    }
    this.stateChanged.emit();
  }

  private _openSocket(id: string): void {
    const socket = this._client.chatSocket(id);
    this._socket = socket;
    let opened = false;
    socket.stateChanged.connect((_, state) => {
      if (state === 'open' && opened) {
        // back after a drop: what was streamed meanwhile is in the store
        void this._loadMessages(id);
      }
      if (state === 'open') {
        for (const text of this._queued.splice(0)) {
          this._sendOn(socket, text);
        }
      }
      opened = opened || state === 'open';
      this.stateChanged.emit();
    });
    socket.received.connect((_, data) => this._onSocketMessage(data));
  }

  /** Send a request; the server answers each with the user's message or an error, in order. */
  private _sendOn(socket: ReconnectingSocket<ChatRequest> | null, text: string): boolean {
    if (!socket?.send({ type: 'send', text })) {
      return false;
    }
    this._unanswered.push(text);
    return true;
  }

  private _closeSocket(): void {
    this._queued = [];
    this._unanswered = [];
    this._socket?.dispose();
    this._socket = null;
  }

  private _onSocketMessage(data: any): void {
    switch (data?.type) {
      case 'message': {
        const message = data.message as IMessage;
        if (message.session_id !== this.currentId) {
          return;
        }
        if (message.role === 'user' && message.status === 'done') {
          this._unanswered.shift(); // taken
        }
        if (!this.messages) {
          return;
        }
        const index = this.messages.findIndex(m => m.id === message.id);
        const messages = [...this.messages];
        if (index >= 0) {
          messages[index] = message;
        } else {
          messages.push(message);
          messages.sort((a, b) => a.seq - b.seq);
        }
        this.messages = messages;
        if (message.status !== 'streaming') {
          this._refreshSessionsSoon();
        }
        break;
      }
      case 'delta': {
        if (!this.messages) {
          return;
        }
        const index = this.messages.findIndex(m => m.id === data.message_id);
        if (index < 0) {
          return;
        }
        const messages = [...this.messages];
        const message = messages[index];
        messages[index] = { ...message, content: message.content + String(data.text ?? '') };
        this.messages = messages;
        break;
      }
      case 'error':
        this.notice = String(data.message);
        this._returned = this._unanswered.shift() ?? null;
        break;
      default:
        return;
    }
    this.stateChanged.emit();
  }

  /** Titles and previews change as messages arrive: list the sessions again, once. */
  private _refreshSessionsSoon(): void {
    window.clearTimeout(this._refreshTimer);
    this._refreshTimer = window.setTimeout(() => void this.refreshSessions(), 300);
  }

  private _fail(what: string, error: unknown): void {
    this.notice = `${what}: ${errorMessage(error)}`;
    this.stateChanged.emit();
  }

  private _client: GorgonClient;
  private _remember: (sessionId: string | null) => void;
  private _socket: ReconnectingSocket<ChatRequest> | null = null;
  private _queued: string[] = [];
  private _unanswered: string[] = [];
  private _returned: string | null = null;
  private _refreshTimer = 0;
  private _changes = 0; // sessions started, renamed or deleted here: a list asked for before is stale
}
