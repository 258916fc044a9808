/** `backupctl backup`: run the backup state machine locally, or start and follow it on a stage. */
import { newestManifest } from '../../../lib/backup/catalog.ts';
import { executionInputSchema, parseInput } from '../../../lib/steps/input.ts';
import type { BackupStore } from '../../../lib/storage/backup-store.ts';
import {
  type CommandContext,
  exitCodeForExecution,
  exitCodes,
  failureText,
  interruptedText,
  paintVerdict,
  type Values,
} from '../context.ts';
import { type Execution, triggerOf, withMachineRunner } from '../machine-runner.ts';
import type { LastDump } from '../progress.ts';
import { concludedDatabases, databaseLines, executionOutputs, localNotice, outputAs } from '../run-output.ts';

function backupInput(values: Values, trigger: 'cli' | 'manual', database: string | undefined) {
  return parseInput(
    executionInputSchema,
    {
      trigger,
      ...(values.reason !== undefined ? { reason: values.reason } : {}),
      ...(values.compression !== undefined ? { compression: values.compression } : {}),
      ...(database !== undefined ? { database } : {}),
    },
    'backup options',
  );
}

/** What the run ended with: one backup, or (the nightly run) one line per database. */
function verdict(where: 'local' | 'stage', execution: Execution) {
  const interrupted = interruptedText('Backup', execution);
  if (interrupted) return interrupted;
  const databases = concludedDatabases(execution);
  if (databases) return databaseLines(databases, (d) => `${d.backupId} verified`, 'FAILED');
  if (execution.status === 'SUCCEEDED') {
    return `Backup ${outputAs(executionOutputs.backup, execution.output)?.dump.backupId} verified.`;
  }
  // Following a stage names the execution's status (FAILED, TIMED_OUT, ABORTED); a local run fails.
  return `Backup ${where === 'stage' ? execution.status : 'failed'}: ${failureText(execution.error)}`;
}

export async function backupCommand(context: CommandContext): Promise<number> {
  const { place, values, out } = context;
  // --all-databases: the nightly run (every database of DATABASES, each in its own backup execution).
  const machine = values['all-databases'] === true ? 'nightly' : 'backup';
  // Checked before anything starts.
  const input = backupInput(values, triggerOf(place), place.database);
  return withMachineRunner(
    context,
    {},
    async (runner) => {
      // The progress line estimates the dump from the last dump, and without one (no backup yet, or
      // no s3:GetObject on a stage) from the database's size.
      const lastDump =
        machine === 'backup' && runner.drawsProgress
          ? await runner
              .vault()
              .then(lastDumpOf)
              .catch(() => undefined)
          : undefined;
      const execution = await runner.run(machine, input, { lastDump });
      if (execution === 'interrupted') return exitCodes.interrupted;
      out.print(paintVerdict(out, execution, verdict(runner.where, execution)), execution);
      return exitCodeForExecution(execution);
    },
    localNotice(out),
  );
}

/** The newest backup's dump and database sizes: what the progress line estimates tonight's dump from. */
async function lastDumpOf(store: BackupStore): Promise<LastDump | undefined> {
  const manifest = await newestManifest(store).catch(() => undefined);
  if (!manifest) return undefined;
  return { bytes: manifest.dump.bytes, databaseBytes: manifest.source.databaseSizeBytes };
}
