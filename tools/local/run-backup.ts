/**
 * `backupctl backup --local` and `npm run demo`: start what is missing, run the real backup state
 * machine with the real handlers, print each state as it finishes, and report the verdict.
 */
import { formatBytes } from '../../lib/notify/messages.ts';
import { backupHandlers } from './backup-handlers.ts';
import type { LocalEnvironment } from './environment.ts';
import { type ExecutionRecord, runStateMachine, type StateRecord } from './state-machine-runner.ts';

/** The one figure per state an operator wants to see. */
export function keyFigure(state: StateRecord): string {
  if (state.error) return `${state.error.name}`;
  const output = (state.output ?? {}) as Record<string, Record<string, unknown> | undefined>;
  switch (state.name) {
    case 'Dump': {
      const d = output.dump ?? {};
      return `${formatBytes(Number(d.bytes))}, ${d.tables} tables, ${d.rows} rows, ${d.compression}`;
    }
    case 'Upload':
      return `${output.stored?.dumpKey}`;
    case 'Checksum':
      return `sha256 ${String((output.checksum?.actual as { sha256?: string })?.sha256 ?? '').slice(0, 16)}… ${output.checksum?.status}, ${output.checksum?.archiveEntries} archive entries`;
    case 'RestoreToStaging':
      return `restored in ${Number(output.restore?.restoreSeconds).toFixed(1)} s into PostgreSQL ${output.restore?.stagingServerVersion}`;
    case 'CompareRowCounts':
      return `${output.compare?.tablesCompared} tables, ${output.compare?.rowsCompared} rows: ${output.compare?.status}`;
    case 'Notify':
      return 'tagged verified, summary published';
    default:
      return '';
  }
}

export function formatStateLine(
  state: StateRecord,
  figure: (state: StateRecord) => string = keyFigure,
): string {
  const mark = { succeeded: '✔', failed: '✘', retried: '↻', caught: '✘' }[state.status];
  const seconds = `${(state.durationMs / 1000).toFixed(1)} s`.padStart(8);
  return `${mark} ${state.name.padEnd(18)}${seconds}  ${figure(state)}`;
}

export async function runLocalBackup(
  environment: LocalEnvironment,
  input: unknown,
  options: { onState?: (state: StateRecord) => void; retryIntervalMs?: number } = {},
): Promise<ExecutionRecord> {
  return runStateMachine({
    machine: 'backup',
    input,
    handlers: backupHandlers,
    settings: environment.settings,
    stateDir: environment.stateDir,
    ...(options.retryIntervalMs === undefined ? {} : { retryIntervalMs: options.retryIntervalMs }),
    ...(options.onState ? { onState: options.onState } : {}),
  });
}
