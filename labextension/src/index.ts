/**
 * The gorgon-nb JupyterLab extension: the Gorgon sidebar (Chat, Approvals, Runs, Jobs, Tools).
 */
import { ILayoutRestorer, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { INotebookTracker, NotebookActions } from '@jupyterlab/notebook';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { IStateDB } from '@jupyterlab/statedb';

import { ApprovalsPanel } from './approvals';
import { ICodeActions } from './chat/markdown';
import { ChatModel } from './chat/model';
import { ChatPanel } from './chat/panel';
import { GorgonClient } from './client';
import { EventFeed } from './events';
import { JobsPanel } from './jobs/panel';
import { RunsPanel } from './runs/panel';
import { GorgonSidebar, SIDEBAR_ID } from './sidebar';
import { ToolsPanel } from './tools/panel';

const STATE_KEY = 'gorgon-nb:sidebar';

namespace CommandIDs {
  export const open = 'gorgon-nb:open';
  export const openApprovals = 'gorgon-nb:open-approvals';
  export const openRun = 'gorgon-nb:open-run';
}

interface ISavedState {
  session: string | null;
  tab: string | null;
}

/** Insert code as a new code cell below the active cell of the current notebook. */
function codeActions(app: JupyterFrontEnd, tracker: INotebookTracker | null): ICodeActions {
  return {
    canInsert: () => !!tracker?.currentWidget,
    insert: (code: string) => {
      const panel = tracker?.currentWidget;
      if (!panel) {
        return;
      }
      const notebook = panel.content;
      NotebookActions.insertBelow(notebook);
      if (notebook.activeCell?.model.type !== 'code') {
        NotebookActions.changeCellType(notebook, 'code');
      }
      const cell = notebook.activeCell;
      if (cell) {
        cell.model.sharedModel.setSource(code);
        void notebook.scrollToCell(cell);
      }
      app.shell.activateById(panel.id);
    }
  };
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'gorgon-nb:sidebar',
  description:
    'The Gorgon sidebar: chat with the agents, decide approvals, follow runs and scheduled jobs.',
  autoStart: true,
  requires: [IRenderMimeRegistry],
  optional: [INotebookTracker, IStateDB, ILayoutRestorer, ICommandPalette],
  activate: (
    app: JupyterFrontEnd,
    rendermime: IRenderMimeRegistry,
    tracker: INotebookTracker | null,
    state: IStateDB | null,
    restorer: ILayoutRestorer | null,
    palette: ICommandPalette | null
  ) => {
    // the one client of the server's gorgon API: every panel's requests and sockets go through it
    const client = new GorgonClient();
    const feed = new EventFeed(client);
    const sidebar = new GorgonSidebar();
    const saved: ISavedState = { session: null, tab: null };
    // nothing is saved before the previous state is read, or it would be overwritten
    let restored = false;
    const save = () => restored && void state?.save(STATE_KEY, { ...saved });

    const openRun = (runId: string) => {
      sidebar.showPanel(runs.id);
      runs.openRun(runId);
      app.shell.activateById(sidebar.id);
    };
    const openApprovals = () => {
      sidebar.showPanel(approvals.id);
      app.shell.activateById(sidebar.id);
    };

    const chatModel = new ChatModel(client, session => {
      saved.session = session;
      save();
    });
    const actions = codeActions(app, tracker);
    const chat = new ChatPanel(chatModel, { rendermime, feed, actions, openRun, openApprovals });
    const approvals = new ApprovalsPanel({ client, feed, openRun, rendermime });
    const runs = new RunsPanel({ client, feed, openApprovals, rendermime });
    const jobs = new JobsPanel({
      client,
      feed,
      openRun,
      openFile: async (path: string) => {
        await app.commands.execute('docmanager:open', { path });
      },
      currentNotebook: () => tracker?.currentWidget?.context.path ?? null
    });
    sidebar.addPanel(chat, 100);
    sidebar.addPanel(approvals, 200);
    sidebar.addPanel(runs, 300);
    sidebar.addPanel(jobs, 400);
    sidebar.addPanel(new ToolsPanel({ client }), 500);

    feed.changed.connect(() => sidebar.setPending(feed.approvals?.length ?? 0, approvals.id));
    tracker?.currentChanged.connect(() => chat.refreshInsertButtons());
    sidebar.currentChanged.connect((_, args) => {
      saved.tab = args.currentWidget?.id ?? null;
      save();
    });

    app.shell.add(sidebar, 'left', { rank: 650 });
    restorer?.add(sidebar, SIDEBAR_ID);

    void (async () => {
      const previous = (await state?.fetch(STATE_KEY).catch(() => null)) as
        Partial<ISavedState> | null | undefined;
      if (previous?.tab) {
        sidebar.showPanel(previous.tab);
      }
      saved.tab = sidebar.currentWidget?.id ?? null;
      restored = true;
      await chatModel.start(previous?.session ?? null);
    })();

    app.commands.addCommand(CommandIDs.open, {
      label: 'Open the Gorgon Sidebar',
      caption: 'Chat with the agents, decide approvals, follow runs and jobs',
      execute: () => app.shell.activateById(sidebar.id)
    });
    app.commands.addCommand(CommandIDs.openApprovals, {
      label: 'Show Pending Gorgon Approvals',
      execute: openApprovals
    });
    app.commands.addCommand(CommandIDs.openRun, {
      label: 'Show a Gorgon Run',
      describedBy: {
        args: {
          type: 'object',
          properties: { runId: { type: 'string', description: 'the run id or a prefix' } },
          required: ['runId']
        }
      },
      execute: args => openRun(String(args.runId))
    });
    palette?.addItem({ command: CommandIDs.open, category: 'Gorgon' });
    palette?.addItem({ command: CommandIDs.openApprovals, category: 'Gorgon' });
  }
};

export default plugin;
