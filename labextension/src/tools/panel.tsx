/**
 * The Tools tab: every tool an agent can be given, by tool set and MCP server (group.tsx),
 * as `gorgon tools` lists them. Listed when the tab is first shown and on Refresh, not
 * live: the server starts each declared MCP server to list its tools.
 */
import { ReactWidget } from '@jupyterlab/ui-components';
import { Message } from '@lumino/messaging';
import * as React from 'react';

import { IToolGroup } from '../api';
import { errorMessage } from '../client';
import { ErrorNotice, Notice, WithCode } from '../components';
import { IToolsContext } from './context';
import { ToolGroup } from './group';

export class ToolsPanel extends ReactWidget {
  constructor(context: IToolsContext) {
    super();
    this._context = context;
    this.id = 'gorgon-tools';
    this.addClass('jp-gorgon-panel');
    this.addClass('jp-gorgon-tools');
    this.title.label = 'Tools';
  }

  /** List the tools again (an MCP server declared or fixed since). */
  async refresh(): Promise<void> {
    this._loading = true;
    this.update();
    try {
      this._groups = await this._context.client.listTools();
      this._error = null;
    } catch (error) {
      this._error = errorMessage(error);
    }
    this._loading = false;
    this.update();
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    if (this._groups === null && !this._loading && this._error === null) {
      void this.refresh();
    }
  }

  protected render(): JSX.Element {
    const groups = this._groups;
    return (
      <div className="jp-gorgon-scroll">
        <div className="jp-gorgon-section-bar">
          <span className="jp-gorgon-subheading">Tools agents can be given</span>
          <button
            className="jp-Button jp-mod-styled jp-mod-reject jp-gorgon-small-button jp-gorgon-tools-refresh"
            disabled={this._loading}
            onClick={() => void this.refresh()}
          >
            {this._loading ? 'Listing…' : 'Refresh'}
          </button>
        </div>
        {this._error && <ErrorNotice error={this._error} onRetry={() => void this.refresh()} />}
        {groups === null && !this._error && (
          <Notice tone="info">Listing the tools (declared MCP servers are started)…</Notice>
        )}
        {groups !== null && (
          <>
            <div className="jp-gorgon-tools-hint">
              <WithCode
                text={
                  'Give a step `tools: [files, "mcp:SERVER"]`. Calls of tools that write wait ' +
                  'for approval unless `auto_approve` allows them.'
                }
              />
            </div>
            <ul className="jp-gorgon-tool-groups">
              {groups.map((group: IToolGroup) => (
                <ToolGroup key={group.ref} group={group} />
              ))}
            </ul>
          </>
        )}
      </div>
    );
  }

  private _context: IToolsContext;
  private _groups: IToolGroup[] | null = null;
  private _error: string | null = null;
  private _loading = false;
}
