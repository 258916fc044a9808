/**
 * The `<State>Result` Task after every worker build: turns the build and its result record
 * (lib/worker/result.ts) back into what the step's Lambda would have answered, so the Retry and Catch
 * rules around it match the same names. The build's own outcome arrives as the `.sync` integration
 * reports it: `{ id, status }` when the build succeeded, or `{ Error, Cause }` (Cause: the build as
 * JSON, or a message) when it failed, timed out, was stopped or never started.
 */
import { z } from 'zod';
import { parseStoredRecord } from '../backup/manifest.ts';
import { BackupNotFoundError, WorkerFailedError, WorkerResultInvalidError } from '../errors.ts';
import { defineStep } from '../lambda/step.ts';
import { errorFromRecord, type WorkerResult, workerResultKey, workerResultSchema } from '../worker/result.ts';
import { executionIdField } from './input.ts';

export const workerResultEventSchema = z.strictObject({
  task: z.string().min(1).max(100),
  state: z.string().min(1).max(100),
  executionName: z.string().min(1).max(200),
  executionId: executionIdField,
  build: z.union([
    z.object({ id: z.string().min(1), status: z.string() }),
    z.object({ Error: z.string(), Cause: z.string().optional() }),
  ]),
});

interface BuildFacts {
  id?: string;
  status: string;
  phase?: string;
  detail?: string;
  logs?: string;
}

/** What the `.sync` failure says about the build: its id, status, failing phase and log link. */
export function buildFacts(build: z.infer<typeof workerResultEventSchema>['build']): BuildFacts {
  if ('id' in build) return { id: build.id, status: build.status };
  let cause: Record<string, unknown> | undefined;
  try {
    const parsed = JSON.parse(build.Cause ?? '') as Record<string, unknown>;
    cause = (parsed.Build as Record<string, unknown> | undefined) ?? parsed;
  } catch {
    cause = undefined;
  }
  if (!cause || typeof cause.Id !== 'string') {
    return { status: build.Error, detail: (build.Cause ?? '').slice(0, 500) };
  }
  const phases = Array.isArray(cause.Phases) ? (cause.Phases as Record<string, unknown>[]) : [];
  const failed = phases.find((p) => p.PhaseStatus && p.PhaseStatus !== 'SUCCEEDED');
  const contexts = Array.isArray(failed?.Contexts) ? (failed.Contexts as Record<string, unknown>[]) : [];
  const logs = cause.Logs as Record<string, unknown> | undefined;
  return {
    id: cause.Id,
    status: String(cause.BuildStatus ?? build.Error),
    ...(failed?.PhaseType ? { phase: String(failed.PhaseType) } : {}),
    ...(contexts[0]?.message ? { detail: String(contexts[0].message).slice(0, 500) } : {}),
    ...(typeof logs?.DeepLink === 'string' ? { logs: logs.DeepLink } : {}),
  };
}

function describeBuild(facts: BuildFacts): string {
  return [
    facts.id ? `CodeBuild build ${facts.id}` : 'the CodeBuild build',
    `ended ${facts.status}`,
    ...(facts.phase ? [`in phase ${facts.phase}`] : []),
    ...(facts.detail ? [`(${facts.detail})`] : []),
  ].join(' ');
}

/**
 * The output of the step the build ran (the event's `task`): its own contract applies, which
 * test/unit/statemachines/contracts.test.ts follows through the worker's Parallel state.
 */
export const workerResultStep = defineStep({
  event: 'worker result event',
  input: workerResultEventSchema,
  output: z.unknown(),
  run: async (input, { runtime }) => {
    const facts = buildFacts(input.build);
    const where = `${input.state} on the worker`;
    if (!facts.id) {
      throw new WorkerFailedError(
        `${where} did not run: ${facts.status}${facts.detail ? `: ${facts.detail}` : ''}`,
        {
          details: { venue: 'worker', state: input.state, status: facts.status },
        },
      );
    }
    const key = workerResultKey(input.executionName, input.state, facts.id);
    let text: string;
    try {
      text = await runtime.store.getText(key);
    } catch (error) {
      if (!(error instanceof BackupNotFoundError)) throw error;
      throw new WorkerFailedError(
        `${where}: ${describeBuild(facts)} without a result (killed, out of memory or stopped at its timeout); nothing it did is marked verified${facts.logs ? `; logs: ${facts.logs}` : ''}`,
        { details: { venue: 'worker', state: input.state, buildId: facts.id, status: facts.status } },
      );
    }
    let record: WorkerResult;
    try {
      record = parseStoredRecord(workerResultSchema, text, key, 'worker result record');
    } catch (error) {
      throw new WorkerResultInvalidError(`${where}: ${(error as Error).message}; ${describeBuild(facts)}`, {
        details: { venue: 'worker', state: input.state, buildId: facts.id },
      });
    }
    if (record.task !== input.task || record.buildId !== facts.id) {
      throw new WorkerResultInvalidError(
        `${where}: ${key} is the record of ${record.task} in build ${record.buildId}, not of ${input.task} in ${facts.id}`,
      );
    }
    if (record.outcome === 'failed') throw errorFromRecord(record.error);
    return record.output;
  },
});
