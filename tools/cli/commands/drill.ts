/** `backupctl drill [id|latest]`: a restore drill, locally or started and followed on a stage. */

import { runRenderDrill } from '../../../lib/commands/render-drill.ts';
import { readRuntimeSettings } from '../../../lib/config.ts';
import { drillInputSchema } from '../../../lib/drill/input.ts';
import { InputValidationError } from '../../../lib/errors.ts';
import { renderDrillKey } from '../../../lib/provider/render-drill.ts';
import { createRuntime } from '../../../lib/runtime.ts';
import { parseInput } from '../../../lib/steps/input.ts';
import {
  type CommandContext,
  checkBackupExists,
  exitCodeForExecution,
  exitCodes,
  failureText,
  interruptedText,
  paintVerdict,
  type Values,
  withLocal,
} from '../context.ts';
import { type Execution, triggerOf, withMachineRunner } from '../machine-runner.ts';
import { concludedDatabases, databaseLines, executionOutputs, outputAs } from '../run-output.ts';

function drillInput(
  target: string | undefined,
  values: Values,
  trigger: 'cli' | 'manual',
  database: string | undefined,
) {
  return parseInput(
    drillInputSchema,
    {
      trigger,
      backupId: target ?? 'latest',
      ...(values.reason !== undefined ? { reason: values.reason } : {}),
      ...(database !== undefined ? { database } : {}),
    },
    'drill options',
  );
}

/** `--all-databases`: every database with backups, each drilled in its own execution. */
function drillsInput(values: Values, trigger: 'cli' | 'manual') {
  return { trigger, ...(values.reason !== undefined ? { reason: values.reason } : {}) };
}

/**
 * `--render --local`: the second-line drill (lib/provider/render-drill.ts), Render's newest export
 * restored on a scratch server and compared with our nearest verified backup of the local vault. On a
 * stage the quarterly drills run it on the worker (`backupctl drill --all-databases --stage <s>`).
 */
async function renderDrill({ place, target, out }: CommandContext): Promise<number> {
  if (place.kind !== 'local' || target !== undefined) {
    throw new InputValidationError(
      "--render drills Render's newest export against the local vault: use it with --local and no backup id (on a stage, `drill --all-databases` includes Render's drill)",
    );
  }
  return withLocal({ production: false }, async (environment) => {
    const record = await runRenderDrill(createRuntime(readRuntimeSettings(environment.settings)));
    const exported = record.export;
    const compared = record.comparedWith;
    const facts = [
      exported
        ? `Render export ${exported.id} of ${exported.createdAt}${exported.sha256 ? `, ${exported.bytes} bytes, SHA-256 ${exported.sha256}` : ''}`
        : 'no Render export',
      compared ? `compared with our ${compared.backupId} (${compared.hoursApart} h apart)` : '',
      record.tables
        ? `${record.tables.compared} table(s) compared on PostgreSQL ${record.serverVersion}`
        : '',
    ].filter(Boolean);
    out.print(
      [
        record.passed
          ? 'Render drill passed (the second line).'
          : `Render drill FAILED (the second line): ProviderDrillFailedError: ${record.problem}`,
        ...facts,
        `Record: ${renderDrillKey(record.drillId)}`,
      ].join('\n'),
      record,
    );
    return record.passed ? exitCodes.ok : exitCodes.failed;
  });
}

/**
 * Render's line of an `--all-databases` run, when it ran: its verdict after the databases' (a skipped
 * one is in the history, not printed).
 */
export function renderDrillLine(execution: {
  states?: { name: string; status: string; output?: unknown }[];
}): string[] {
  const concluded = execution.states?.find((s) => s.name === 'Conclude' && s.status === 'succeeded')
    ?.output as
    | { render?: { passed?: boolean; recordKey?: string }; renderError?: { Error?: string; Cause?: string } }
    | undefined;
  if (concluded?.renderError) {
    return [
      `Render's export: drill FAILED ${failureText({ name: concluded.renderError.Error ?? 'Error', cause: concluded.renderError.Cause ?? '' })}`,
    ];
  }
  if (concluded?.render?.passed)
    return [`Render's export: drill passed (record ${concluded.render.recordKey})`];
  return [];
}

export async function drillCommand(context: CommandContext): Promise<number> {
  if (context.values.render === true) return renderDrill(context);
  const { place, target, values, out } = context;
  const all = values['all-databases'] === true;
  if (all && target !== undefined) {
    throw new InputValidationError(
      "--all-databases drills each database's newest verified backup: name no backup id",
    );
  }
  const verdict = (execution: Execution) => {
    const interrupted = interruptedText('Drill', execution);
    if (interrupted) {
      out.print(paintVerdict(out, execution, interrupted), execution);
      return exitCodeForExecution(execution);
    }
    const databases = concludedDatabases(execution);
    if (all && databases) {
      out.print(
        [
          databaseLines(databases, (d) => `drill passed (backup ${d.backupId})`, 'drill FAILED'),
          ...renderDrillLine(execution),
        ].join('\n'),
        execution,
      );
      return exitCodeForExecution(execution);
    }
    const evidence = outputAs(executionOutputs.drill, execution.output)?.evidence;
    out.print(
      paintVerdict(
        out,
        execution,
        execution.status === 'SUCCEEDED'
          ? `Drill passed. Evidence: ${evidence?.evidenceKey} and ${evidence?.markdownKey}`
          : `Drill FAILED: ${failureText(execution.error)}`,
      ),
      execution,
    );
    return exitCodeForExecution(execution);
  };
  const trigger = triggerOf(place);
  // Checked before anything starts.
  const input = all ? drillsInput(values, trigger) : drillInput(target, values, trigger, place.database);
  return withMachineRunner(context, { production: false }, async (runner) => {
    // The backup must exist (in --database's vault): a typo is a usage error before anything starts.
    if (!all) await checkBackupExists(await runner.vault(), target ?? 'latest', runner.listCommand);
    const execution = await runner.run(all ? 'drills' : 'drill', input);
    return execution === 'interrupted' ? exitCodes.interrupted : verdict(execution);
  });
}
