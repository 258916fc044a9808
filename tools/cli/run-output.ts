/**
 * The terminal side of a run of a state machine: state lines and a progress line, and what a
 * per-database run (nightly, drills) came to for each database.
 */

import { z } from 'zod';
import type { MachineName } from '../../functions/tasks.ts';
import { recordedEvidenceSchema } from '../../lib/drill/input.ts';
import type { StateRecord } from '../../lib/report/executions.ts';
import { conclusionSchema, type DatabaseOutcome } from '../../lib/steps/conclude.ts';
import { dumpOutputSchema } from '../../lib/steps/dump.ts';
import { restoredTargetSchema } from '../../lib/steps/restore.ts';
import type { Output, Values } from './context.ts';
import { type LastDump, stepProgress } from './progress.ts';
import { printState } from './stage-run.ts';

/**
 * What a local run shows while it runs: each state's line as it ends and, on a terminal, a progress
 * line for the long work inside a step (from the steps' progress log lines); with --verbose every JSON
 * log line instead of the progress line.
 */
export function localRunOutput(
  out: Output,
  values: Values,
  machine: MachineName,
  lastDump?: LastDump,
): { onState: (state: StateRecord) => void; onLogLine: (line: string) => void } {
  const print = printState(out, machine);
  if (values.verbose) {
    return { onState: print, onLogLine: (line) => console.error(line) };
  }
  const progress = stepProgress({ json: out.json, lastDump });
  return {
    onState: (state) => {
      progress.finish();
      print(state);
    },
    onLogLine: (line) => progress.onLogLine(line),
  };
}

/**
 * What a local run says while the local servers start (a first run's seeding), on stderr when it is a
 * terminal, as the progress line; nothing with --json.
 */
export function localNotice(out: Output): (message: string) => void {
  return (message) => {
    if (!out.json && process.stderr.isTTY) console.error(message);
  };
}

export type { DatabaseOutcome };

/**
 * Where the CLI reads a finished execution's output: each step's answer at the ResultPath its state
 * puts it (statemachines/*.asl.json), read through that step's contract (lib/lambda/step.ts).
 */
export const executionOutputs = {
  backup: z.object({ dump: dumpOutputSchema.pick({ backupId: true }) }),
  drill: z.object({ evidence: recordedEvidenceSchema.pick({ evidenceKey: true, markdownKey: true }) }),
  restore: z.object({ restore: restoredTargetSchema }),
  /** The Conclude state's own output in a per-database run (nightly, drills). */
  concluded: z.object({ conclusion: conclusionSchema.pick({ databases: true }) }),
};

/** The output as `schema` reads it, or undefined when it is not of that shape (a failed run). */
export function outputAs<S extends z.ZodType>(schema: S, output: unknown): z.output<S> | undefined {
  const parsed = schema.safeParse(output);
  return parsed.success ? parsed.data : undefined;
}

/**
 * What a per-database run (nightly, drills) came to for each database, from its Conclude state: a
 * failed run has no output, so the state is where it is. Undefined for any other run.
 */
export function concludedDatabases(execution: {
  states?: { name: string; status: string; output?: unknown }[];
}): DatabaseOutcome[] | undefined {
  const concluded = execution.states?.find(
    (state) => state.name === 'Conclude' && state.status === 'succeeded',
  );
  return outputAs(executionOutputs.concluded, concluded?.output)?.conclusion.databases;
}

/** One line per database: `<database>: <what passed>` or `<database>: <failed> <error>: <cause>`. */
export function databaseLines(
  databases: DatabaseOutcome[],
  passed: (d: DatabaseOutcome) => string,
  failed: string,
) {
  return databases
    .map((d) => `${d.database}: ${d.status === 'verified' ? passed(d) : `${failed} ${d.error}: ${d.cause}`}`)
    .join('\n');
}
