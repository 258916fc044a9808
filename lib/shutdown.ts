/**
 * What a process must undo when it is told to stop (SIGINT, SIGTERM: Ctrl-C, `kill`, the worker's
 * build timeout): its scratch servers (lib/verify/scratch-registry.ts) and, in a local run, the
 * embedded servers and worker children (tools/local/). One mechanism for all of them: `onShutdown`
 * registers a cleanup and returns its unregistration; `stopOnSignals` makes the first signal run every
 * cleanup and exit with 130 or 143 (what a shell reports for those signals); a second signal exits at
 * once. Lambda sends no signal before it freezes or kills a function; there the step's deadline and
 * the next run's cleanup of abandoned servers do this job.
 */

/** Told which signal stopped the process (a run records it: tools/local/state-machine-runner.ts). */
type Cleanup = (signal: NodeJS.Signals) => Promise<void>;

const cleanups = new Set<Cleanup>();
let installed = false;
const exitCodes: Record<'SIGINT' | 'SIGTERM', number> = { SIGINT: 130, SIGTERM: 143 };

export function onShutdown(cleanup: Cleanup): () => void {
  cleanups.add(cleanup);
  return () => {
    cleanups.delete(cleanup);
  };
}

let stoppingOn: NodeJS.Signals | undefined;

/** The signal this process is stopping on, once one came: work about to start must not start. */
export function stoppingSignal(): NodeJS.Signals | undefined {
  return stoppingOn;
}

export function stopOnSignals(onStopping: (signal: NodeJS.Signals) => void = () => undefined): void {
  if (installed) return;
  installed = true;
  let stopping = false;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      if (stopping) process.exit(exitCodes[signal]);
      stopping = true;
      stoppingOn = signal;
      onStopping(signal);
      Promise.allSettled([...cleanups].map((cleanup) => cleanup(signal))).finally(() =>
        process.exit(exitCodes[signal]),
      );
    });
  }
}
