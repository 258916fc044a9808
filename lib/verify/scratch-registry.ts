/**
 * The scratch servers this process runs right now, so that a process told to stop (SIGINT, SIGTERM:
 * Ctrl-C, `kill`, the worker's build timeout) stops them and removes their files before it exits.
 * Lambda sends no signal before it freezes or kills a function; there the step's deadline signal and
 * the next run's cleanup of abandoned servers (lib/verify/scratch-server.ts) do this job.
 */
interface Stoppable {
  stop(): Promise<void>;
}

const live = new Set<Stoppable>();
let installed = false;

export function registerScratchServer(server: Stoppable): void {
  live.add(server);
}

export function unregisterScratchServer(server: Stoppable): void {
  live.delete(server);
}

export function liveScratchServers(): number {
  return live.size;
}

export async function stopAllScratchServers(): Promise<void> {
  await Promise.allSettled([...live].map((server) => server.stop()));
}

/**
 * Makes SIGINT and SIGTERM stop every scratch server before the process exits (with 130 or 143, as the
 * shell reports a process those signals ended). A second signal exits at once.
 */
export function stopScratchServersOnSignals(
  onStopping: (signal: NodeJS.Signals) => void = () => undefined,
): void {
  if (installed) return;
  installed = true;
  const codes: Partial<Record<NodeJS.Signals, number>> = { SIGINT: 130, SIGTERM: 143 };
  let stopping = false;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      const code = codes[signal] ?? 1;
      if (stopping) process.exit(code);
      stopping = true;
      onStopping(signal);
      stopAllScratchServers().finally(() => process.exit(code));
    });
  }
}
