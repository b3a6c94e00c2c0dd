/**
 * The Chat tab: the list of chats above the open chat's messages (messages.tsx) and the
 * input (composer.tsx).
 */
import { Dialog, showDialog } from '@jupyterlab/apputils';
import {
  addIcon,
  caretDownIcon,
  caretRightIcon,
  deleteIcon,
  editIcon,
  VDomRenderer
} from '@jupyterlab/ui-components';
import * as React from 'react';

import { ISession } from '../api';
import { ErrorNotice, Notice } from '../components';
import { formatAgo, formatTime } from '../format';
import { Composer } from './composer';
import { updateInsertButtons } from './markdown';
import { Messages } from './messages';
import { ChatModel } from './model';
import { IChatContext } from './context';

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
          <span>{open || !model.current ? 'Chats' : model.current.title}</span>
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
          <IconButton
            icon={editIcon}
            title="Rename"
            className="jp-gorgon-rename"
            onClick={props.onEdit}
          />
          <IconButton
            icon={deleteIcon}
            title="Delete"
            className="jp-gorgon-delete"
            onClick={props.onDelete}
          />
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
