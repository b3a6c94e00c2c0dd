/**
 * Pieces the panels share: status badges, notices, the connection line, and HTML the
 * server rendered.
 */
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import * as React from 'react';

import { GorgonApiError } from './client';
import { EventFeed } from './events';

/** A status word in a coloured pill; `data-status` carries it for styling and tests. */
export function StatusBadge(props: {
  status: string;
  label?: string;
  title?: string;
}): JSX.Element {
  return (
    <span
      className="jp-gorgon-status"
      data-status={props.status}
      title={props.title ?? props.status}
    >
      {props.label ?? props.status}
    </span>
  );
}

/**
 * A message in place of a panel's content (an error, or what there is to wait for); with
 * `code` spans for the commands a user may need to run.
 */
export function Notice(props: {
  tone: 'error' | 'info' | 'warn';
  children: React.ReactNode;
  action?: { label: string; onClick: () => void };
}): JSX.Element {
  return (
    <div className="jp-gorgon-notice" data-tone={props.tone} role="status">
      <div className="jp-gorgon-notice-text">{props.children}</div>
      {props.action && (
        <button
          className="jp-Button jp-mod-styled jp-mod-reject jp-gorgon-small-button"
          onClick={props.action.onClick}
        >
          {props.action.label}
        </button>
      )}
    </div>
  );
}

/** Text with `backtick` spans shown as code, for messages that name a command. */
export function WithCode(props: { text: string }): JSX.Element {
  const parts = props.text.split('`');
  return (
    <>{parts.map((part, index) => (index % 2 === 1 ? <code key={index}>{part}</code> : part))}</>
  );
}

export function ErrorNotice(props: {
  error: GorgonApiError | Error | string;
  onRetry?: () => void;
}): JSX.Element {
  const text = typeof props.error === 'string' ? props.error : props.error.message;
  return (
    <Notice tone="error" action={props.onRetry && { label: 'Retry', onClick: props.onRetry }}>
      <WithCode text={text} />
    </Notice>
  );
}

/**
 * A line shown while a socket reconnects: `detail` says why when that is known (the
 * server cannot be reached, say).
 */
export function ConnectionLine(props: {
  state: string;
  detail?: string;
  onRetry: () => void;
}): JSX.Element | null {
  if (props.state !== 'reconnecting') {
    return null;
  }
  return (
    <div className="jp-gorgon-connection" role="status">
      <span>
        {props.detail ?? 'The connection to the server was lost.'} Reconnecting; what is shown may
        be out of date.
      </span>
      <button className="jp-gorgon-link-button" onClick={props.onRetry}>
        Retry now
      </button>
    </div>
  );
}

/** What is wrong with the live feed, if anything: the API's problem, or a lost connection. */
export function FeedStatus(props: { feed: EventFeed }): JSX.Element | null {
  const { feed } = props;
  const problem = feed.problem;
  const retry = () => feed.reconnect();
  return problem && problem.kind !== 'network' ? (
    // the server reports a store it cannot read while connected: its next update clears it
    <ErrorNotice error={problem} onRetry={feed.state === 'reconnecting' ? retry : undefined} />
  ) : (
    <ConnectionLine state={feed.state} detail={problem?.message} onRetry={retry} />
  );
}

/**
 * HTML the server rendered (an output or a preview, from Markdown with raw HTML escaped),
 * cleaned again by JupyterLab's sanitizer and styled as rendered output. Not typeset as
 * LaTeX, so "$5 and $7" stay money; links open in a new tab.
 */
export function ServerHtml(props: { html: string; rendermime: IRenderMimeRegistry }): JSX.Element {
  const host = React.useRef<HTMLDivElement>(null);
  const clean = React.useMemo(
    () => props.rendermime.sanitizer.sanitize(props.html),
    [props.html, props.rendermime]
  );
  React.useEffect(() => {
    for (const link of Array.from(host.current?.querySelectorAll('a[href]') ?? [])) {
      link.setAttribute('target', '_blank');
      link.setAttribute('rel', 'noopener noreferrer');
    }
  }, [clean]);
  return (
    <div className="jp-gorgon-rendered">
      <div
        className="jp-RenderedHTMLCommon"
        ref={host}
        dangerouslySetInnerHTML={{ __html: clean }}
      />
    </div>
  );
}
