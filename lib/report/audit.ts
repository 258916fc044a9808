/**
 * The audit trail: every execution of both state machines since a point in time, with how it was
 * started, each step's outcome and duration, and the failure cause. Reads execution summaries, so the
 * same rendering serves the local history and Step Functions' own.
 */
import { InputValidationError } from '../errors.ts';
import { type ExecutionSummary, readableCause, triggerOf } from './executions.ts';

const units: Record<string, number> = { h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** `30d`, `12h`, `2w` -> milliseconds; anything else names the flag. */
export function parseSince(text: string, field = '--since'): number {
  const match = /^(\d{1,4})([hdw])$/.exec(text.trim());
  const unit = units[match?.[2] ?? ''];
  if (!match || unit === undefined) {
    throw new InputValidationError(`${field} must look like 30d, 12h or 2w`, { details: { field } });
  }
  return Number(match[1]) * unit;
}

export interface AuditEntry {
  executionArn: string;
  stateMachine: string;
  startedAt: string;
  stoppedAt: string | undefined;
  trigger: string;
  /** The operator's `--reason` for a manual run (backup, drill, restore), when given. */
  reason: string | undefined;
  status: string;
  error: { name: string; cause: string } | undefined;
  steps: { name: string; status: string; durationMs: number; error?: string }[];
}

export function auditEntries(executions: ExecutionSummary[], since: Date): AuditEntry[] {
  return executions
    .filter((e) => Date.parse(e.startedAt) >= since.getTime())
    .sort((a, b) => b.startedAt.localeCompare(a.startedAt))
    .map((e) => ({
      executionArn: e.executionArn,
      stateMachine: e.stateMachine,
      startedAt: e.startedAt,
      stoppedAt: e.stoppedAt,
      trigger: e.stateMachine === 'drill' ? `drill (${triggerOf(e)})` : triggerOf(e),
      reason: reasonOf(e),
      status: e.status,
      error: e.error ? { name: e.error.name, cause: readableCause(e.error.cause) } : undefined,
      steps: e.states.map((s) => ({
        name: s.name,
        status: s.status,
        durationMs: s.durationMs,
        ...(s.error ? { error: s.error.name } : {}),
      })),
    }));
}

function reasonOf(execution: ExecutionSummary): string | undefined {
  const reason = (execution.input as { reason?: unknown } | undefined)?.reason;
  return typeof reason === 'string' && reason.trim() !== '' ? reason : undefined;
}

export function renderAudit(entries: AuditEntry[]): string {
  if (entries.length === 0) return 'No executions in this period.';
  return entries
    .map((e) => {
      const head = `${e.startedAt}  ${e.stateMachine.padEnd(6)}  ${e.status.padEnd(9)}  trigger: ${e.trigger}  ${e.executionArn}`;
      const steps = e.steps.map(
        (s) =>
          `    ${s.name.padEnd(20)} ${s.status.padEnd(9)} ${(s.durationMs / 1000).toFixed(1).padStart(7)} s${s.error ? `  ${s.error}` : ''}`,
      );
      const reason = e.reason === undefined ? [] : [`    reason: ${e.reason.split('\n')[0]}`];
      const failure = e.error ? [`    cause: ${e.error.name}: ${e.error.cause.split('\n')[0]}`] : [];
      return [head, ...reason, ...steps, ...failure].join('\n');
    })
    .join('\n\n');
}
