/**
 * What the Runs tab's components are given: the client, the event feed, the renderers
 * and a way to the Approvals tab.
 */
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';

import { GorgonClient } from '../client';
import { EventFeed } from '../events';

export interface IRunsContext {
  client: GorgonClient;
  feed: EventFeed;
  /** Show the Approvals tab. */
  openApprovals: () => void;
  rendermime: IRenderMimeRegistry;
}
