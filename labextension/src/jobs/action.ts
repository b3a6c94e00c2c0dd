/**
 * The hook behind the buttons of the schedule rows and the job rows.
 */
import * as React from 'react';

import { errorMessage } from '../client';

/** A request a row's button makes: busy while it goes, its failure said under the row. */
export function useAction(): [
  boolean,
  string | null,
  (work: () => Promise<unknown>) => Promise<void>
] {
  const [busy, setBusy] = React.useState(false);
  const [problem, setProblem] = React.useState<string | null>(null);
  const run = async (work: () => Promise<unknown>) => {
    setBusy(true);
    setProblem(null);
    try {
      await work();
    } catch (error) {
      setProblem(errorMessage(error));
    } finally {
      setBusy(false);
    }
  };
  return [busy, problem, run];
}
