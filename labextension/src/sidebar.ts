/**
 * The Gorgon sidebar: a tab bar over the panels (Chat, Approvals, Runs, Jobs, Tools, and any
 * added later), and the count of pending approvals on the left bar's icon.
 */
import { TabPanel, Widget } from '@lumino/widgets';

import { gorgonIcon } from './icons';
import { plural } from './format';

export const SIDEBAR_ID = 'gorgon-nb-sidebar';

export class GorgonSidebar extends TabPanel {
  constructor() {
    super({ tabPlacement: 'top', tabsMovable: false });
    this.id = SIDEBAR_ID;
    this.addClass('jp-gorgon-sidebar');
    this.tabBar.addClass('jp-gorgon-tabs');
    this.title.icon = gorgonIcon;
    this.title.caption = 'Gorgon: chat, approvals, runs, jobs, tools';
    this.setPending(0);
  }

  /**
   * Add a panel as a tab; tabs are ordered by `rank` (Chat 100, Approvals 200, Runs 300,
   * Jobs 400, Tools 500).
   */
  addPanel(widget: Widget, rank: number): void {
    this._ranks.set(widget, rank);
    const index = this.widgets.findIndex(other => (this._ranks.get(other) ?? 0) > rank);
    this.insertWidget(index < 0 ? this.widgets.length : index, widget);
  }

  /** Bring the panel with this id to the front. */
  showPanel(id: string): boolean {
    const index = this.widgets.findIndex(widget => widget.id === id);
    if (index >= 0) {
      this.currentIndex = index;
    }
    return index >= 0;
  }

  /**
   * Show `count` pending approvals: on the left bar's tab (`data-gorgon-pending`, drawn by
   * CSS), in its tooltip, and on the panel's tab named `tabId`.
   */
  setPending(count: number, tabId?: string): void {
    // Lumino writes each key as it is, `data-${key}`
    this.title.dataset = { ...this.title.dataset, 'gorgon-pending': String(count) };
    this.title.caption = count
      ? `Gorgon: ${plural(count, 'approval')} waiting`
      : 'Gorgon: chat, approvals, runs, jobs, tools';
    const tab = this.widgets.find(widget => widget.id === tabId);
    if (tab) {
      tab.title.dataset = { ...tab.title.dataset, count: String(count) };
    }
  }

  private _ranks = new Map<Widget, number>();
}
