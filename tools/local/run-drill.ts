/**
 * `backupctl drill --local`: run the real drill state machine with the real handlers against the local
 * (or pointed-at) staging server and bucket, printing each state as it finishes.
 */
import { formatDuration } from '../../lib/drill/evidence.ts';
import { drillHandlers } from './drill-handlers.ts';
import type { LocalEnvironment } from './environment.ts';
import { type ExecutionRecord, runStateMachine, type StateRecord } from './state-machine-runner.ts';

type Output = Record<string, Record<string, unknown> | undefined>;

export function drillKeyFigure(state: StateRecord): string {
  if (state.error) return state.error.name;
  const output = (state.output ?? {}) as Output;
  switch (state.name) {
    case 'SelectBackup':
      return `backup ${output.selected?.backupId}, drill ${output.selected?.drillId}`;
    case 'Checksum':
      return `sha256 ${output.checksum?.status}, ${output.checksum?.archiveEntries} archive entries`;
    case 'CreateDrillDb':
      return `${output.drillDb?.drillDatabase} on PostgreSQL ${output.drillDb?.serverVersion}`;
    case 'Restore':
      return `download ${formatDuration(Number(output.restore?.downloadSeconds))}, restore ${formatDuration(Number(output.restore?.restoreSeconds))}`;
    case 'Compare':
      return `${output.compare?.tablesCompared} tables, ${output.compare?.rowsCompared} rows: ${output.compare?.status}`;
    case 'SanityChecks': {
      const checks = (output.sanity?.checks ?? []) as { passed: boolean }[];
      return `${checks.filter((c) => c.passed).length}/${checks.length} passed`;
    }
    case 'RecordEvidence':
      return `${output.evidence?.passed ? 'PASSED' : 'FAILED'}, RPO ${output.evidence?.observedRpoHours} h, RTO ${formatDuration(Number(output.evidence?.observedRtoSeconds))} -> ${output.evidence?.evidenceKey}`;
    case 'DropDrillDb':
    case 'DropDrillDbOnFailure':
      return `${output.dropped?.drillDatabase ?? output.cleanup?.drillDatabase ?? ''} dropped`;
    case 'Notify':
      return 'summary published';
    default:
      return '';
  }
}

export async function runLocalDrill(
  environment: LocalEnvironment,
  input: unknown,
  options: {
    onState?: (state: StateRecord) => void;
    retryIntervalMs?: number;
    settings?: Record<string, string>;
  } = {},
): Promise<ExecutionRecord> {
  return runStateMachine({
    machine: 'drill',
    input,
    handlers: drillHandlers,
    settings: { ...environment.settings, ...options.settings },
    stateDir: environment.stateDir,
    ...(options.retryIntervalMs === undefined ? {} : { retryIntervalMs: options.retryIntervalMs }),
    ...(options.onState ? { onState: options.onState } : {}),
  });
}
