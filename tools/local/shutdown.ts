/**
 * What a local run must undo when it is told to stop (Ctrl-C, `kill`): the embedded servers, the local
 * S3 API, worker child processes and scratch servers. Without this, SIGINT or SIGTERM ended Node at once
 * and left the servers running, holding their data directories for every later run.
 *
 * `onShutdown(cleanup)` registers what to undo and returns its unregistration; the first SIGINT or
 * SIGTERM runs every cleanup, stops this process's scratch servers and exits with 130 or 143 (what a
 * shell reports for those signals). A second signal exits at once.
 */
import { stopAllScratchServers } from '../../lib/verify/scratch-registry.ts';

type Cleanup = () => Promise<void>;

const cleanups = new Set<Cleanup>();
let installed = false;
const exitCodes: Record<'SIGINT' | 'SIGTERM', number> = { SIGINT: 130, SIGTERM: 143 };

export function onShutdown(cleanup: Cleanup): () => void {
  install();
  cleanups.add(cleanup);
  return () => {
    cleanups.delete(cleanup);
  };
}

function install(): void {
  if (installed) return;
  installed = true;
  let stopping = false;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      if (stopping) process.exit(exitCodes[signal]);
      stopping = true;
      console.error(`\n${signal}: stopping the local servers before exiting…`);
      const pending = [...cleanups].reverse().map((cleanup) => cleanup());
      Promise.allSettled([...pending, stopAllScratchServers()]).finally(() =>
        process.exit(exitCodes[signal]),
      );
    });
  }
}
