/**
 * The Chat tab: the list of chats, the open chat's messages, and the input.
 */
import { Dialog, showDialog } from '@jupyterlab/apputils';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import {
  addIcon,
  caretDownIcon,
  caretRightIcon,
  deleteIcon,
  editIcon,
  stopIcon,
  VDomRenderer
} from '@jupyterlab/ui-components';
import * as React from 'react';

import { IMessage, IRole, ISession } from '../api';
import { ConnectionLine, ErrorNotice, Notice, StatusBadge, WithCode } from '../components';
import { EventFeed } from '../events';
import { formatAgo, formatTime, formatTokens, shortId } from '../format';
import { ChatModel } from './model';
import { ICodeActions, Markdown, updateInsertButtons } from './markdown';

export interface IChatContext {
  rendermime: IRenderMimeRegistry;
  feed: EventFeed;
  actions: ICodeActions;
  /** Show a run in the Runs tab. */
  openRun: (runId: string) => void;
  /** Show the Approvals tab. */
  openApprovals: () => void;
}

export class ChatPanel extends VDomRenderer<ChatModel> {
  constructor(model: ChatModel, context: IChatContext) {
    super(model);
    this._context = context;
    this.id = 'gorgon-chat';
    this.addClass('jp-gorgon-panel');
    this.addClass('jp-gorgon-chat');
    this.title.label = 'Chat';
    // the status of /run messages comes from the feed
    context.feed.changed.connect(() => {
      if (this.model.messages?.some(m => m.role === 'workflow')) {
        this.update();
      }
    }, this);
  }

  /** A notebook opened or closed: enable or disable the Insert buttons. */
  refreshInsertButtons(): void {
    updateInsertButtons(this.node, this._context.actions.canInsert());
  }

  protected render(): JSX.Element {
    return <ChatView model={this.model} context={this._context} />;
  }

  private _context: IChatContext;
}

function ChatView(props: { model: ChatModel; context: IChatContext }): JSX.Element {
  const { model, context } = props;
  if (!model.sessions) {
    return model.sessionsError ? (
      <ErrorNotice error={model.sessionsError} onRetry={() => void model.retry()} />
    ) : (
      <Notice tone="info">Loading the chats…</Notice>
    );
  }
  return (
    <div className="jp-gorgon-chat-layout">
      <SessionList model={model} />
      {model.sessionsError && (
        <ErrorNotice error={model.sessionsError} onRetry={() => void model.retry()} />
      )}
      <Messages model={model} context={context} />
      <Composer model={model} />
    </div>
  );
}

// -- the list of chats -------------------------------------------------------------------

function SessionList(props: { model: ChatModel }): JSX.Element {
  const { model } = props;
  const sessions = model.sessions ?? [];
  const [open, setOpen] = React.useState(true);
  const [editing, setEditing] = React.useState<string | null>(null);
  const Caret = open ? caretDownIcon : caretRightIcon;
  return (
    <div className="jp-gorgon-sessions">
      <div className="jp-gorgon-section-header">
        <button
          className="jp-gorgon-section-toggle"
          onClick={() => setOpen(!open)}
          aria-expanded={open}
          title={open ? 'Hide the list of chats' : 'Show the list of chats'}
        >
          <Caret.react tag="span" className="jp-gorgon-caret" />
          <span>
            {open || !model.current ? 'Chats' : model.current.title}
          </span>
          <span className="jp-gorgon-count">{sessions.length}</span>
        </button>
        <button
          className="jp-Button jp-mod-styled jp-mod-accept jp-gorgon-small-button jp-gorgon-new-chat"
          onClick={() => void model.create()}
          title="Start a new chat"
        >
          <addIcon.react tag="span" className="jp-gorgon-button-icon" />
          New chat
        </button>
      </div>
      {open && sessions.length > 0 && (
        <ul className="jp-gorgon-session-list" role="listbox" aria-label="Chats">
          {sessions.map(session => (
            <SessionRow
              key={session.id}
              session={session}
              current={session.id === model.currentId}
              editing={editing === session.id}
              onSelect={() => void model.select(session.id)}
              onEdit={() => setEditing(session.id)}
              onRename={title => {
                setEditing(null);
                if (title !== null && title.trim() !== session.title) {
                  void model.rename(session.id, title);
                }
              }}
              onDelete={() => void confirmDelete(model, session)}
            />
          ))}
        </ul>
      )}
    </div>
  );
}

async function confirmDelete(model: ChatModel, session: ISession): Promise<void> {
  const result = await showDialog({
    title: 'Delete this chat?',
    body: `“${session.title}” and all its messages will be deleted. This cannot be undone.`,
    buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Delete' })]
  });
  if (result.button.accept) {
    await model.remove(session.id);
  }
}

function SessionRow(props: {
  session: ISession;
  current: boolean;
  editing: boolean;
  onSelect: () => void;
  onEdit: () => void;
  onRename: (title: string | null) => void;
  onDelete: () => void;
}): JSX.Element {
  const { session } = props;
  return (
    <li
      className="jp-gorgon-session"
      data-session-id={session.id}
      role="option"
      aria-selected={props.current}
      onClick={() => !props.editing && props.onSelect()}
      title={`Started ${formatTime(session.created_at)}`}
    >
      <div className="jp-gorgon-session-text">
        {props.editing ? (
          <RenameInput title={session.title} onDone={props.onRename} />
        ) : (
          <span className="jp-gorgon-session-title" onDoubleClick={props.onEdit}>
            {session.title}
          </span>
        )}
        <span className="jp-gorgon-session-meta">
          {formatAgo(session.updated_at)}
          {session.preview ? ` · ${session.preview}` : ''}
        </span>
      </div>
      {!props.editing && (
        <span className="jp-gorgon-session-actions">
          <IconButton icon={editIcon} title="Rename" className="jp-gorgon-rename" onClick={props.onEdit} />
          <IconButton icon={deleteIcon} title="Delete" className="jp-gorgon-delete" onClick={props.onDelete} />
        </span>
      )}
    </li>
  );
}

function IconButton(props: {
  icon: typeof editIcon;
  title: string;
  className: string;
  onClick: () => void;
}): JSX.Element {
  return (
    <button
      className={`jp-gorgon-icon-button ${props.className}`}
      title={props.title}
      aria-label={props.title}
      onClick={event => {
        event.stopPropagation();
        props.onClick();
      }}
    >
      <props.icon.react tag="span" />
    </button>
  );
}

/** The title in an input: Enter or leaving it saves, Escape cancels. */
function RenameInput(props: {
  title: string;
  onDone: (title: string | null) => void;
}): JSX.Element {
  const [value, setValue] = React.useState(props.title);
  const done = React.useRef(false);
  const finish = (title: string | null) => {
    if (!done.current) {
      done.current = true;
      props.onDone(title);
    }
  };
  return (
    <input
      className="jp-mod-styled jp-gorgon-rename-input"
      value={value}
      autoFocus
      aria-label="Chat title"
      onFocus={event => event.currentTarget.select()}
      onChange={event => setValue(event.currentTarget.value)}
      onClick={event => event.stopPropagation()}
      onKeyDown={event => {
        if (event.key === 'Enter') {
          finish(value);
        } else if (event.key === 'Escape') {
          finish(null);
        }
      }}
      onBlur={() => finish(value)}
    />
  );
}

// -- the messages ------------------------------------------------------------------------

function Messages(props: { model: ChatModel; context: IChatContext }): JSX.Element {
  const { model, context } = props;
  const scroller = React.useRef<HTMLDivElement>(null);
  const content = React.useRef<HTMLDivElement>(null);
  const pinned = React.useRef(true);
  // where the panel last scrolled by itself: a scroll event can come after more text made the
  // content taller, and only a scroll above this point is the reader's
  const followed = React.useRef(0);

  React.useEffect(() => {
    // follow the newest text while the reader is at the bottom (Markdown renders late, so
    // watch the height rather than the messages)
    const inner = content.current;
    if (!inner || typeof ResizeObserver === 'undefined') {
      return;
    }
    const observer = new ResizeObserver(() => {
      const outer = scroller.current;
      if (outer && pinned.current) {
        outer.scrollTop = outer.scrollHeight;
        followed.current = outer.scrollTop;
      }
    });
    observer.observe(inner);
    return () => observer.disconnect();
  }, [model.currentId, model.messages === null]);

  React.useEffect(() => {
    pinned.current = true;
  }, [model.currentId]);

  let body: React.ReactNode;
  if (!model.currentId) {
    body = (
      <Notice tone="info">
        No chat is open. Start one with <b>New chat</b>, or just type below.
      </Notice>
    );
  } else if (model.messagesError) {
    body = <ErrorNotice error={model.messagesError} onRetry={() => void model.retry()} />;
  } else if (!model.messages) {
    body = <Notice tone="info">Loading the messages…</Notice>;
  } else if (model.messages.length === 0) {
    body = <Welcome roles={model.roles} />;
  } else {
    body = <MessageTree messages={model.messages} context={context} />;
  }
  return (
    <div
      className="jp-gorgon-messages"
      ref={scroller}
      onScroll={event => {
        const outer = event.currentTarget;
        const atBottom = outer.scrollHeight - outer.scrollTop - outer.clientHeight < 40;
        pinned.current = atBottom || outer.scrollTop >= followed.current - 2;
      }}
    >
      <div ref={content}>{body}</div>
    </div>
  );
}

function Welcome(props: { roles: IRole[] }): JSX.Element {
  const names = props.roles.filter(r => r.name !== 'supervisor').map(r => `@${r.name}`);
  return (
    <div className="jp-gorgon-welcome">
      <p>
        Ask anything: the supervisor answers, and hands parts of the work to the specialist
        agents when that helps. Every message says which agent wrote it.
      </p>
      <p>
        Start with <code>@role</code> to ask one agent directly
        {names.length ? ` (${names.join(', ')})` : ''}, or with{' '}
        <code>/run WORKFLOW key=value</code> to run a workflow.
      </p>
    </div>
  );
}

function MessageTree(props: { messages: IMessage[]; context: IChatContext }): JSX.Element {
  const byId = new Map(props.messages.map(m => [m.id, m]));
  const children = new Map<string, IMessage[]>();
  const top: IMessage[] = [];
  for (const message of props.messages) {
    if (message.parent_id && byId.has(message.parent_id)) {
      const siblings = children.get(message.parent_id) ?? [];
      siblings.push(message);
      children.set(message.parent_id, siblings);
    } else {
      top.push(message);
    }
  }
  const order = (m: IMessage) => m.meta?.delegation?.index ?? m.seq;
  for (const list of children.values()) {
    list.sort((a, b) => order(a) - order(b) || a.seq - b.seq);
  }
  return (
    <div className="jp-gorgon-message-list">
      {top.map(message => (
        <MessageView
          key={message.id}
          message={message}
          delegates={children.get(message.id) ?? []}
          parent={message.parent_id ? byId.get(message.parent_id) ?? null : null}
          context={props.context}
        />
      ))}
    </div>
  );
}

const STATUS_WORDS: Record<string, string> = {
  stopped: 'stopped',
  interrupted: 'interrupted: the server stopped while it was written',
  error: 'failed'
};

function author(message: IMessage): { icon: string; name: string } {
  switch (message.role) {
    case 'user':
      return { icon: '🧑', name: 'You' };
    case 'workflow':
      return { icon: '▶️', name: message.meta?.workflow ?? 'workflow' };
    default:
      return { icon: message.icon ?? '🤖', name: message.agent ?? 'agent' };
  }
}

function MessageView(props: {
  message: IMessage;
  delegates: IMessage[];
  parent: IMessage | null;
  context: IChatContext;
}): JSX.Element {
  const { message, context } = props;
  const { icon, name } = author(message);
  const delegation = message.meta?.delegation;
  const streaming = message.status === 'streaming';
  const waitingForText = streaming && !message.content;
  const usage = message.meta?.usage;
  // a delegate's answer folds away once the answer it served is written; a click unfolds it
  const [unfolded, setUnfolded] = React.useState<boolean | null>(null);
  const foldable = props.parent !== null;
  const folded = foldable && !(unfolded ?? props.parent?.status === 'streaming');
  const Caret = folded ? caretRightIcon : caretDownIcon;
  const header = (
    <>
      {foldable && <Caret.react tag="span" className="jp-gorgon-caret" />}
      <span className="jp-gorgon-message-icon" aria-hidden="true">
        {icon}
      </span>
      <span className="jp-gorgon-message-author">{name}</span>
      <span className="jp-gorgon-message-time" title={formatTime(message.created_at)}>
        {formatAgo(message.created_at)}
      </span>
      {STATUS_WORDS[message.status] && (
        <StatusBadge
          status={message.status}
          label={message.status}
          title={STATUS_WORDS[message.status]}
        />
      )}
    </>
  );
  return (
    <div
      className="jp-gorgon-message"
      data-role={message.role}
      data-agent={message.agent ?? ''}
      data-status={message.status}
      data-message-id={message.id}
      data-delegate={foldable ? 'true' : undefined}
      data-folded={folded ? 'true' : undefined}
    >
      {foldable ? (
        <button
          className="jp-gorgon-message-header jp-gorgon-fold"
          aria-expanded={!folded}
          title={folded ? 'Show this answer' : 'Fold this answer away'}
          onClick={() => setUnfolded(folded)}
        >
          {header}
        </button>
      ) : (
        <div className="jp-gorgon-message-header">{header}</div>
      )}
      {delegation && (
        <div className="jp-gorgon-delegation">
          delegated by {props.parent?.agent ?? 'supervisor'}: {delegation.task}
        </div>
      )}
      {props.delegates.length > 0 && (
        <div className="jp-gorgon-delegates">
          {props.delegates.map(delegate => (
            <MessageView
              key={delegate.id}
              message={delegate}
              delegates={[]}
              parent={message}
              context={context}
            />
          ))}
        </div>
      )}
      {message.role === 'workflow' && message.run_id && (
        <RunLine message={message} context={context} />
      )}
      {!folded && (
        <>
          {waitingForText ? (
            <div className="jp-gorgon-thinking">
              {props.delegates.length ? 'waiting for the delegates' : 'thinking'}
              <span className="jp-gorgon-dots" />
            </div>
          ) : (
            message.content && (
              <Markdown
                source={message.content}
                rendermime={context.rendermime}
                actions={context.actions}
              />
            )
          )}
          {(message.meta?.notices ?? []).map(notice => (
            <div key={notice} className="jp-gorgon-hint-line">
              {notice}
            </div>
          ))}
          {message.meta?.error && (
            <div className="jp-gorgon-message-error" role="alert">
              <WithCode text={message.meta.error} />
            </div>
          )}
          {usage && !streaming && (
            <div className="jp-gorgon-facts jp-gorgon-message-usage">
              {usage.model && <span>{usage.model}</span>}
              <span>{formatTokens(usage.tokens)} tokens</span>
              {!!usage.cost_usd && <span>${usage.cost_usd.toFixed(4)}</span>}
            </div>
          )}
        </>
      )}
    </div>
  );
}

/**
 * A /run message's run: its live status (from the feed), how many steps are done, the
 * approval it waits for, and a link to it in Runs.
 */
function RunLine(props: { message: IMessage; context: IChatContext }): JSX.Element {
  const { message, context } = props;
  const runId = message.run_id as string;
  const run = context.feed.run(runId);
  const status = run ? (run.stopped ? 'stopped' : run.status) : null;
  const steps = Object.values(message.meta?.steps ?? {});
  const done = steps.filter(step => step === 'succeeded' || step === 'skipped').length;
  return (
    <div className="jp-gorgon-run-line" data-run-id={runId}>
      {status ? <StatusBadge status={status} /> : <StatusBadge status="unknown" label="…" />}
      <span>
        run <code>{shortId(runId)}</code>
        {steps.length > 0 && ` · ${done}/${steps.length} steps done`}
      </span>
      <button
        className="jp-gorgon-link-button jp-gorgon-open-run"
        onClick={() => context.openRun(runId)}
      >
        Open in Runs
      </button>
      {message.meta?.waiting && (
        <button
          className="jp-gorgon-link-button jp-gorgon-waiting-link"
          onClick={context.openApprovals}
          title="Decide in the Approvals tab"
        >
          Waiting for approval: {message.meta.waiting}
        </button>
      )}
    </div>
  );
}

// -- the input ---------------------------------------------------------------------------

function Composer(props: { model: ChatModel }): JSX.Element {
  const { model } = props;
  const [draft, setDraft] = React.useState('');
  const input = React.useRef<HTMLTextAreaElement>(null);
  const suggestions = suggest(draft, model);

  React.useEffect(() => {
    const returned = model.takeReturned();
    if (returned !== null) {
      setDraft(current => current || returned);
    }
  });

  const send = async () => {
    const text = draft;
    if (!text.trim()) {
      return;
    }
    if (!model.currentId) {
      await model.create();
    }
    if (model.send(text)) {
      setDraft('');
    }
  };

  return (
    <div className="jp-gorgon-composer">
      {model.notice && (
        <div className="jp-gorgon-chat-notice" role="alert">
          {model.notice}
        </div>
      )}
      <ConnectionLine state={model.socketState ?? 'open'} onRetry={() => model.reconnect()} />
      {suggestions.length > 0 && (
        <div className="jp-gorgon-suggestions">
          {suggestions.map(s => (
            <button
              key={s.text}
              className="jp-gorgon-suggestion"
              title={s.description}
              onClick={() => {
                setDraft(s.text);
                input.current?.focus();
              }}
            >
              {s.label}
            </button>
          ))}
        </div>
      )}
      <textarea
        ref={input}
        className="jp-mod-styled jp-gorgon-input"
        rows={3}
        value={draft}
        placeholder="Ask the agents (@role asks one, /run WORKFLOW key=value starts one)"
        title="Enter sends; Shift+Enter starts a new line"
        aria-label="Message"
        onChange={event => setDraft(event.currentTarget.value)}
        onKeyDown={event => {
          if (event.key === 'Enter' && !event.shiftKey && !event.nativeEvent.isComposing) {
            event.preventDefault();
            void send();
          } else if (event.key === 'Tab' && suggestions.length > 0) {
            event.preventDefault();
            setDraft(suggestions[0].text);
          }
        }}
      />
      <div className="jp-gorgon-composer-bar">
        <span className="jp-gorgon-composer-buttons">
          {model.answering && (
            <button
              className="jp-Button jp-mod-styled jp-mod-warn jp-gorgon-small-button jp-gorgon-stop"
              onClick={() => model.stop()}
              title="Stop the answer and the workflows of this chat now (what they wrote is kept)"
            >
              <stopIcon.react tag="span" className="jp-gorgon-button-icon" />
              Stop
            </button>
          )}
          <button
            className="jp-Button jp-mod-styled jp-mod-accept jp-gorgon-small-button jp-gorgon-send"
            onClick={() => void send()}
            disabled={!draft.trim()}
            title="Send (Enter)"
          >
            Send
          </button>
        </span>
      </div>
    </div>
  );
}

interface ISuggestion {
  label: string;
  text: string;
  description: string;
}

/** `@pl` suggests the roles that start so; `/run da` the workflows. */
function suggest(draft: string, model: ChatModel): ISuggestion[] {
  const role = /^@(\w*)$/.exec(draft);
  if (role) {
    return model.roles
      .filter(r => r.name.startsWith(role[1]) && r.name !== role[1])
      .map(r => ({
        label: `${r.icon} @${r.name}`,
        text: `@${r.name} `,
        description: r.description
      }));
  }
  const run = /^\/(?:r|ru|run|run\s+(\S*))$/.exec(draft);
  if (run) {
    const prefix = run[1] ?? '';
    return model.workflows
      .filter(w => w.name.startsWith(prefix))
      .slice(0, 12)
      .map(w => {
        const required = Object.entries(w.inputs ?? {})
          .filter(([, spec]) => spec.required)
          .map(([key]) => ` ${key}=`);
        return {
          label: `/run ${w.name}`,
          text: `/run ${w.name}${required.join('')}`,
          description: w.description
        };
      });
  }
  return [];
}
