/**
 * What the chat's components are given: the renderers, the event feed, the actions on
 * code blocks and ways to the Runs and Approvals tabs.
 */
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';

import { EventFeed } from '../events';
import { ICodeActions } from './markdown';

export interface IChatContext {
  rendermime: IRenderMimeRegistry;
  feed: EventFeed;
  actions: ICodeActions;
  /** Show a run in the Runs tab. */
  openRun: (runId: string) => void;
  /** Show the Approvals tab. */
  openApprovals: () => void;
}
