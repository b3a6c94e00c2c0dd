/**
 * What the Tools tab's components are given: the client that lists the tools.
 */
import { GorgonClient } from '../client';

export interface IToolsContext {
  client: GorgonClient;
}
