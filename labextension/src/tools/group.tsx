/**
 * One tool set (or MCP server) in the Tools tab: its reference, what it is, and its tools,
 * each with whether it writes (and so waits for approval) or only reads; or why it lists
 * none.
 */
import * as React from 'react';

import { IToolGroup } from '../api';
import { Notice, WithCode } from '../components';

export function ToolGroup(props: { group: IToolGroup }): JSX.Element {
  const { group } = props;
  return (
    <li className="jp-gorgon-tool-group" data-ref={group.ref}>
      <div className="jp-gorgon-tool-group-head">
        <code className="jp-gorgon-tool-group-ref">{group.ref}</code>
        {group.origin !== 'gorgon-nb' && (
          <span className="jp-gorgon-tool-group-origin">{group.origin}</span>
        )}
      </div>
      <div className="jp-gorgon-tool-group-description">{group.description}</div>
      {group.error && (
        <Notice tone="error">
          <WithCode text={group.error} />
        </Notice>
      )}
      {!group.error && group.tools.length === 0 && (
        <div className="jp-gorgon-tool-group-note">{group.note ?? 'No tools.'}</div>
      )}
      {!group.error && group.tools.length > 0 && group.note && (
        <Notice tone="warn">
          <WithCode text={group.note} />
        </Notice>
      )}
      {group.tools.length > 0 && (
        <ul className="jp-gorgon-tool-list">
          {group.tools.map(tool => (
            <li key={tool.name} className="jp-gorgon-tool" data-tool={tool.name}>
              <div className="jp-gorgon-tool-head">
                <span className="jp-gorgon-tool-name">{tool.name}</span>
                <span
                  className="jp-gorgon-tool-access"
                  data-access={tool.writes ? 'writes' : 'reads'}
                  title={
                    tool.writes
                      ? 'Writes: a call waits for approval unless auto_approve allows it'
                      : 'Reads: called without approval'
                  }
                >
                  {tool.writes ? 'writes' : 'reads'}
                </span>
              </div>
              {tool.description && (
                <div className="jp-gorgon-tool-description">{tool.description}</div>
              )}
            </li>
          ))}
        </ul>
      )}
    </li>
  );
}
