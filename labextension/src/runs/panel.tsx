/**
 * The Runs tab: recent runs, live from the event feed (list.tsx); a run's steps and outputs
 * (detail.tsx), read again whenever the feed says the run changed.
 */
import { ReactWidget } from '@jupyterlab/ui-components';
import * as React from 'react';

import { IRun } from '../api';
import { errorMessage } from '../client';
import { ErrorNotice, Notice } from '../components';
import { shortId } from '../format';
import { RunDetail } from './detail';
import { RunList } from './list';
import { IRunsContext } from './context';

export class RunsPanel extends ReactWidget {
  constructor(context: IRunsContext) {
    super();
    this._context = context;
    this.id = 'gorgon-runs';
    this.addClass('jp-gorgon-panel');
    this.addClass('jp-gorgon-runs');
    this.title.label = 'Runs';
    context.feed.changed.connect(this._onFeed, this);
  }

  /** Show one run's detail (an id or a prefix the server resolves). */
  openRun(runId: string): void {
    this._selected = runId;
    this._detail = null;
    this._error = null;
    this._notice = null;
    this._signature = '';
    this.update();
    void this._load();
  }

  closeRun(): void {
    this._selected = null;
    this._detail = null;
    this._error = null;
    this.update();
  }

  protected render(): JSX.Element {
    if (this._selected) {
      return (
        <div className="jp-gorgon-scroll">
          <button className="jp-gorgon-link-button jp-gorgon-back" onClick={() => this.closeRun()}>
            ← All runs
          </button>
          {this._error && <ErrorNotice error={this._error} onRetry={() => void this._load()} />}
          {!this._detail && !this._error && (
            <Notice tone="info">Loading run {shortId(this._selected)}…</Notice>
          )}
          {this._detail && (
            <RunDetail
              run={this._detail}
              notice={this._notice}
              onCancel={() => void this._cancel()}
              context={this._context}
            />
          )}
        </div>
      );
    }
    return <RunList context={this._context} onOpen={id => this.openRun(id)} />;
  }

  private _onFeed(): void {
    const selected = this._selected;
    const summary = selected ? this._context.feed.run(this._detail?.run_id ?? selected) : null;
    if (summary) {
      // the run changed (a step ended, tokens, status): read its detail again
      const signature = JSON.stringify(summary);
      if (signature !== this._signature && this._detail) {
        this._signature = signature;
        void this._load();
      }
    }
    this.update();
  }

  private async _load(): Promise<void> {
    const runId = this._selected;
    if (!runId) {
      return;
    }
    try {
      const run = await this._context.client.getRun(runId);
      if (this._selected === runId) {
        this._detail = run;
        this._error = null;
        const summary = this._context.feed.run(run.run_id);
        this._signature = summary ? JSON.stringify(summary) : '';
      }
    } catch (error) {
      if (this._selected === runId) {
        this._error = errorMessage(error);
      }
    }
    this.update();
  }

  private async _cancel(): Promise<void> {
    const run = this._detail;
    if (!run) {
      return;
    }
    try {
      const result = await this._context.client.cancelRun(run.run_id);
      this._notice =
        result === 'cancelled'
          ? 'Cancelled.'
          : 'Cancel requested: the run stops as soon as its process sees it.';
    } catch (error) {
      this._notice = `Could not cancel: ${errorMessage(error)}`;
    }
    this.update();
    await this._load();
  }

  private _context: IRunsContext;
  private _selected: string | null = null;
  private _detail: IRun | null = null;
  private _error: string | null = null;
  private _notice: string | null = null;
  private _signature = '';
}
