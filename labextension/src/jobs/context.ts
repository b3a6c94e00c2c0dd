/**
 * What the Jobs tab's components are given: the client, the event feed and a few
 * actions of JupyterLab.
 */
import { GorgonClient } from '../client';
import { EventFeed } from '../events';

export interface IJobsContext {
  client: GorgonClient;
  feed: EventFeed;
  /** Open a file of the server's root in JupyterLab (`docmanager:open`). */
  openFile: (path: string) => Promise<void>;
  /** Show a workflow run in the Runs tab. */
  openRun: (runId: string) => void;
  /** The path of the notebook being edited, if any: the new schedule's default. */
  currentNotebook: () => string | null;
}
