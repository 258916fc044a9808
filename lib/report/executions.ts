/**
 * Execution history as the status report and the audit read it. Locally the runner saves every
 * execution under `<stateDir>/executions/*.json`; on AWS the same summaries come from Step Functions
 * (or are passed to the status function by the caller).
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';

export const executionSummarySchema = z.object({
  executionArn: z.string(),
  stateMachine: z.string(),
  startedAt: z.iso.datetime(),
  stoppedAt: z.iso.datetime().optional(),
  status: z.enum(['SUCCEEDED', 'FAILED', 'RUNNING', 'TIMED_OUT', 'ABORTED']),
  input: z.unknown().optional(),
  error: z.object({ name: z.string(), cause: z.string() }).optional(),
  states: z
    .array(
      z.object({
        name: z.string(),
        status: z.string(),
        startedAt: z.string(),
        durationMs: z.number(),
        error: z.object({ name: z.string(), cause: z.string() }).optional(),
      }),
    )
    .default([]),
});
export type ExecutionSummary = z.infer<typeof executionSummarySchema>;

/** One attempt outcome of a state, as Step Functions' history (or the local runner) reports it. */
export interface StateRecord {
  name: string;
  status: 'succeeded' | 'failed' | 'retried' | 'caught';
  startedAt: string;
  durationMs: number;
  output?: unknown;
  error?: { name: string; cause: string };
}

/** The process a local run's RUNNING record names (tools/local/process-identity.ts). */
export interface RunnerIdentity {
  pid: number;
  startTime: string | undefined;
}

const runningRecordSchema = z.object({
  status: z.literal('RUNNING'),
  runner: z.object({ pid: z.number().int().positive(), startTime: z.string().optional() }),
  runningState: z.string().optional(),
});

/** The error a local run shows that was killed (kill -9, a crash) before it could write how it ended. */
export const endedWithoutRecord = 'EndedWithoutRecord';

/**
 * A RUNNING record whose process is gone: that run was killed before it could write how it ended. It
 * reads as ABORTED, saying so and where it was, so the audit, the status and the list see it rather
 * than a run that seems to go on forever, or no run at all.
 */
async function withoutLostRuns(
  record: unknown,
  isAlive: ((runner: RunnerIdentity) => Promise<boolean>) | undefined,
): Promise<unknown> {
  const running = runningRecordSchema.safeParse(record);
  if (!running.success || !isAlive) return record;
  const { runner, runningState } = running.data;
  if (await isAlive({ pid: runner.pid, startTime: runner.startTime })) return record;
  return {
    ...(record as object),
    status: 'ABORTED',
    error: {
      name: endedWithoutRecord,
      cause: `ended without a record (killed?): its process ${runner.pid} is gone; it was in ${runningState ?? 'its start'}, and nothing says how it ended`,
    },
  };
}

/**
 * Every readable local execution record, newest first; unreadable files are skipped, not fatal. With
 * `isAlive`, a RUNNING record whose process is gone reads as ABORTED, ended without a record.
 */
export async function readLocalExecutions(
  stateDir: string,
  options: { isAlive?: (runner: RunnerIdentity) => Promise<boolean> } = {},
): Promise<ExecutionSummary[]> {
  const dir = join(stateDir, 'executions');
  let names: string[];
  try {
    names = (await readdir(dir)).filter((name) => name.endsWith('.json'));
  } catch {
    return [];
  }
  const executions: ExecutionSummary[] = [];
  for (const name of names) {
    try {
      const record = await withoutLostRuns(
        JSON.parse(await readFile(join(dir, name), 'utf8')),
        options.isAlive,
      );
      const parsed = executionSummarySchema.safeParse(record);
      if (parsed.success) executions.push(parsed.data);
    } catch {
      // A record being written right now, or not ours: the audit lists what it can read.
    }
  }
  return executions.sort((a, b) => b.startedAt.localeCompare(a.startedAt));
}

/** How an execution was started: the input's trigger (schedule, manual, cli), or the machine's kind. */
export function triggerOf(execution: ExecutionSummary): string {
  const trigger = (execution.input as { trigger?: unknown } | undefined)?.trigger;
  return typeof trigger === 'string' ? trigger : 'manual';
}

/** The cause as people read it: Lambda's JSON cause unwrapped to its message. */
export function readableCause(cause: string): string {
  try {
    const parsed = JSON.parse(cause) as { errorMessage?: unknown };
    if (typeof parsed.errorMessage === 'string') return parsed.errorMessage;
  } catch {
    // not JSON: already readable
  }
  return cause;
}
