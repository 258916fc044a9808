/**
 * The scratch servers this process runs right now, so that a process told to stop (SIGINT, SIGTERM:
 * Ctrl-C, `kill`, the worker's build timeout) stops them and removes their files before it exits.
 * Lambda sends no signal before it freezes or kills a function; there the step's deadline signal and
 * the next run's cleanup of abandoned servers (lib/verify/scratch-server.ts) do this job.
 */
import { onShutdown, stopOnSignals } from '../shutdown.ts';

interface Stoppable {
  stop(): Promise<void>;
}

const live = new Set<Stoppable>();

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

onShutdown(stopAllScratchServers);

/** SIGINT and SIGTERM stop every scratch server before the process exits (lib/shutdown.ts). */
export function stopScratchServersOnSignals(onStopping?: (signal: NodeJS.Signals) => void): void {
  stopOnSignals(onStopping);
}
