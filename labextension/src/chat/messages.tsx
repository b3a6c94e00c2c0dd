/**
 * The open chat's messages: who wrote each, delegates' answers under the supervisor's,
 * /run messages with their run, and the view following the newest text.
 */
import { caretDownIcon, caretRightIcon } from '@jupyterlab/ui-components';
import * as React from 'react';

import { IMessage, IRole } from '../api';
import { ErrorNotice, Notice, StatusBadge, WithCode } from '../components';
import { formatAgo, formatTime, formatTokens, shortId } from '../format';
import { Markdown } from './markdown';
import { ChatModel } from './model';
import { ToolCalls } from './tool-calls';
import type { IChatContext } from './context';

export function Messages(props: { model: ChatModel; context: IChatContext }): JSX.Element {
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
        Ask anything: the supervisor answers, and hands parts of the work to the specialist agents
        when that helps. Every message says which agent wrote it.
      </p>
      <p>
        Start with <code>@role</code> to ask one agent directly
        {names.length ? ` (${names.join(', ')})` : ''}, or with <code>/run WORKFLOW key=value</code>{' '}
        to run a workflow.
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
          parent={message.parent_id ? (byId.get(message.parent_id) ?? null) : null}
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
          {message.meta?.tool_calls && (
            <ToolCalls
              calls={message.meta.tool_calls}
              dropped={message.meta.tool_calls_dropped ?? 0}
              onApprovals={context.openApprovals}
            />
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
