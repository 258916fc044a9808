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

/** Every readable local execution record, newest first; unreadable files are skipped, not fatal. */
export async function readLocalExecutions(stateDir: string): Promise<ExecutionSummary[]> {
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
      const parsed = executionSummarySchema.safeParse(JSON.parse(await readFile(join(dir, name), 'utf8')));
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
