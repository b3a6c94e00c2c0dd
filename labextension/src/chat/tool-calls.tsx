/**
 * The tool calls of an agent's answer, folded under its message: "3 tool calls" and their
 * states at a glance; unfolded, each call's tool, arguments, result and status.
 */
import { caretDownIcon, caretRightIcon } from '@jupyterlab/ui-components';
import * as React from 'react';

import { IToolCall } from '../api';
import { StatusBadge } from '../components';

const LABELS: Record<string, string> = {
  running: 'running',
  waiting: 'waiting for approval',
  ok: 'ok',
  error: 'error',
  rejected: 'rejected'
};

function label(call: IToolCall): string {
  const said = LABELS[call.status] ?? call.status;
  return call.recorded ? `${said} · recorded` : said;
}

/** "2 ok, 1 waiting for approval": how the calls stand, in a few words. */
function tally(calls: IToolCall[]): string {
  const counts = new Map<string, number>();
  for (const call of calls) {
    counts.set(call.status, (counts.get(call.status) ?? 0) + 1);
  }
  return [...counts].map(([status, n]) => `${n} ${LABELS[status] ?? status}`).join(', ');
}

export function ToolCalls(props: {
  calls: IToolCall[];
  dropped: number;
  onApprovals: () => void;
}): JSX.Element | null {
  const { calls, dropped } = props;
  const [open, setOpen] = React.useState(false);
  if (calls.length === 0) {
    return null;
  }
  const total = calls.length + dropped;
  const waiting = calls.some(call => call.status === 'waiting');
  const Caret = open ? caretDownIcon : caretRightIcon;
  return (
    <div className="jp-gorgon-tool-calls" data-open={open ? 'true' : undefined}>
      <button
        className="jp-gorgon-fold jp-gorgon-tool-calls-toggle"
        aria-expanded={open}
        title={open ? 'Fold the tool calls away' : 'Show the tool calls'}
        onClick={() => setOpen(!open)}
      >
        <Caret.react tag="span" className="jp-gorgon-caret" />
        <span>
          {total} tool call{total === 1 ? '' : 's'}
        </span>
        <span className="jp-gorgon-tool-calls-tally">{tally(calls)}</span>
      </button>
      {waiting && (
        <button
          className="jp-gorgon-link-button jp-gorgon-waiting-link"
          onClick={props.onApprovals}
          title="Decide in the Approvals tab"
        >
          A tool call waits for your approval
        </button>
      )}
      {open && (
        <ol className="jp-gorgon-tool-call-list" start={dropped + 1}>
          {dropped > 0 && (
            <li className="jp-gorgon-hint-line" value={1}>
              {dropped} earlier call{dropped === 1 ? '' : 's'} not shown
            </li>
          )}
          {calls.map((call, n) => (
            <li
              key={`${n}-${call.index}`}
              className="jp-gorgon-tool-call"
              data-status={call.status}
              data-tool={call.tool}
            >
              <div className="jp-gorgon-tool-call-head">
                <code className="jp-gorgon-tool-call-name">{call.tool}</code>
                <StatusBadge status={call.status} label={label(call)} />
              </div>
              {call.arguments && <code className="jp-gorgon-tool-call-args">{call.arguments}</code>}
              {call.result && <pre className="jp-gorgon-tool-call-result">{call.result}</pre>}
            </li>
          ))}
        </ol>
      )}
    </div>
  );
}
