/** `backupctl backup`: run the backup state machine locally, or start and follow it on a stage. */
import { newestManifest } from '../../../lib/backup/catalog.ts';
import { executionInputSchema, parseInput } from '../../../lib/steps/input.ts';
import type { BackupStore } from '../../../lib/storage/backup-store.ts';
import { runLocalMachine } from '../../local/run-backup.ts';
import {
  type CommandContext,
  exitCodeForExecution,
  exitCodes,
  failureText,
  interruptedText,
  localStore,
  paintVerdict,
  sfnFor,
  type Values,
  withLocal,
  withTarget,
} from '../context.ts';
import type { LastDump } from '../progress.ts';
import {
  concludedDatabases,
  databaseLines,
  executionOutputs,
  localNotice,
  localRunOutput,
  outputAs,
} from '../run-output.ts';
import { followOnStage, printState } from '../stage-run.ts';

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
function verdict(
  where: 'local' | 'stage',
  execution: {
    status: string;
    output?: unknown;
    error?: { name: string; cause: string } | undefined;
    interruptedBy?: string;
    states?: { name: string; status: string; output?: unknown }[];
  },
) {
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

export async function backupCommand({ place, values, out, deps }: CommandContext): Promise<number> {
  // --all-databases: the nightly run (every database of DATABASES, each in its own backup execution).
  const machine = values['all-databases'] === true ? 'nightly' : 'backup';
  if (place.kind === 'stage') {
    const input = backupInput(values, 'manual', place.database);
    // The progress line estimates the dump from the stage's last dump, as a local run does; only where
    // a progress line is drawn, and without one (no backup yet, no s3:GetObject) from the database's size.
    const drawsProgress =
      machine === 'backup' && !out.json && (deps.terminal ?? process.stderr).isTTY === true;
    const lastDump = drawsProgress
      ? await withTarget(place, deps, ({ runtime }) => lastDumpOf(runtime.store)).catch(() => undefined)
      : undefined;
    const execution = await followOnStage(place.settings, machine, input, {
      api: sfnFor(place.settings, deps),
      deps,
      onState: printState(out, machine),
      json: out.json,
      lastDump,
    });
    if (execution === 'interrupted') return exitCodes.interrupted;
    out.print(paintVerdict(out, execution, verdict(place.kind, execution)), execution);
    return exitCodeForExecution(execution);
  }
  const input = backupInput(values, 'cli', place.database);
  return withLocal(
    {},
    async (environment) => {
      const lastDump =
        machine === 'backup' && place.database === undefined
          ? await lastDumpOf(localStore(environment))
          : undefined;
      const execution = await runLocalMachine(
        machine,
        environment,
        input,
        localRunOutput(out, values, machine, lastDump),
      );
      out.print(paintVerdict(out, execution, verdict(place.kind, execution)), execution);
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
