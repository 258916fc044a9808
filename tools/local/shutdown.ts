/**
 * A local run told to stop (Ctrl-C, `kill`) stops its embedded servers, the local S3 API, worker
 * children and scratch servers before it exits (lib/shutdown.ts): without this, Node ended at once and
 * left the servers running, holding their data directories for every later run.
 */
import { onShutdown as registerCleanup, stopOnSignals } from '../../lib/shutdown.ts';

export { stoppingSignal } from '../../lib/shutdown.ts';

// Its import registers this process's scratch servers as a cleanup too.
import '../../lib/verify/scratch-registry.ts';

export function onShutdown(cleanup: (signal: NodeJS.Signals) => Promise<void>): () => void {
  stopOnSignals((signal) =>
    console.error(`\n${signal}: stopping the run where it is, then the local servers, before exiting…`),
  );
  return registerCleanup(cleanup);
}
