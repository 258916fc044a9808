/**
 * `backupctl restore <id|latest> --target-url URL [--jobs N]`: the restore state machine, whose Restore
 * step runs on the worker (CodeBuild on a stage, a child process locally), so any machine that runs the
 * CLI can restore: the production guard and the target's opt-in, the dump's SHA-256 checked before
 * anything reaches the target, pg_restore -j, and every table counted there.
 *
 * The target's URL holds a password, so it never enters the execution input or history: the runner's
 * TargetSecrets hold it (../machine-runner.ts): on a stage a Secrets Manager secret of its own, which
 * the execution deletes without recovery when the restore ends (ForgetTarget); locally in memory, for
 * the local worker's environment.
 */
import { requireVerified, resolveBackup } from '../../../lib/backup/catalog.ts';
import { InputValidationError } from '../../../lib/errors.ts';
import { parseConnectionUrl } from '../../../lib/pg/connection.ts';
import type { BackupStore } from '../../../lib/storage/backup-store.ts';
import { restoreInput } from '../../local/run-restore.ts';
import {
  type CommandContext,
  checkBackupExists,
  exitCodeForExecution,
  exitCodes,
  failureText,
} from '../context.ts';
import { type Execution, withMachineRunner } from '../machine-runner.ts';
import { executionOutputs, outputAs } from '../run-output.ts';

function summary(output: unknown): string {
  const restore = outputAs(executionOutputs.restore, output)?.restore;
  const compare = restore?.compare;
  // What was passed by, what was proved and whether the backup was verified come first; the last line
  // stays the one scripts read: "<id> restored into <db> in N s; row counts match (...)."
  const before = [
    ...(restore?.skipped?.length
      ? [`latest passed by: ${restore.skipped.map((s) => `${s.backupId} (${s.reason})`).join('; ')}`]
      : []),
    ...(restore?.unverified ? [`WARNING: restored an UNVERIFIED backup: ${restore.unverified}`] : []),
    ...(compare?.proof === 'checksums' ? [`Content checksums ${compare.status} the manifest's.`] : []),
    ...(compare?.proof === 'counts'
      ? ['Content NOT compared: row counts only (--counts-only, or the backup recorded no checksums).']
      : []),
  ];
  return (
    before.map((line) => `${line}\n`).join('') +
    `${restore?.backupId} restored into ${restore?.database} in ${Number(restore?.restoreSeconds).toFixed(1)} s; ` +
    `row counts ${compare?.status} (${compare?.tablesCompared} tables, ${compare?.rowsCompared} rows).` +
    (restore?.roles
      ? `\nRoles from ${restore.roles.globalsId} (no passwords: set them with ALTER ROLE ... PASSWORD); owners and grants ${restore.roles.ownership}${restore.roles.skipped?.length ? `; the target refused ${restore.roles.skipped.length} statement(s): ${restore.roles.skipped.slice(0, 3).join(' | ')}` : ''}.`
      : '')
  );
}

/**
 * Before anything starts: an unverified backup needs --allow-unverified (BackupUnverifiedError says
 * why it is unverified); with it, the reason is printed before the restore begins. The Restore step
 * checks again: it is what a direct execution goes through.
 */
async function checkVerified(store: BackupStore, target: string, allowUnverified: boolean): Promise<void> {
  const { entry } = await resolveBackup(store, target);
  requireVerified(entry, allowUnverified);
  if (!entry.verified) console.error(`WARNING: ${entry.backupId} is not verified: ${entry.reason}`);
}

export async function restoreCommand(context: CommandContext): Promise<number> {
  const { place, target, values, out } = context;
  if (!target) throw new InputValidationError('restore needs a backup id or "latest"');
  if (typeof values['target-url'] !== 'string') throw new InputValidationError('restore needs --target-url');
  const jobs = values.jobs === undefined ? undefined : Number(values.jobs);
  if (jobs !== undefined && (!Number.isInteger(jobs) || jobs < 1 || jobs > 64)) {
    throw new InputValidationError('--jobs must be a whole number from 1 to 64');
  }
  const targetUrl = values['target-url'];
  // Checked here, before anything is created or started; the URL itself is never printed.
  parseConnectionUrl(targetUrl, '--target-url');
  const withRoles = values['with-roles'] === true;
  const targetNotProduction = values['target-not-production'] === true;
  const allowUnverified = values['allow-unverified'] === true;
  const countsOnly = values['counts-only'] === true;
  const request = {
    backupId: target,
    ...(jobs === undefined ? {} : { jobs }),
    ...(withRoles ? { withRoles } : {}),
    ...(targetNotProduction ? { targetNotProduction } : {}),
    ...(allowUnverified ? { allowUnverified } : {}),
    ...(countsOnly ? { countsOnly } : {}),
    ...(place.database === undefined ? {} : { database: place.database }),
  };

  // The same output as ever: the restore's outcome on success; a failure goes to stderr by name.
  const finish = (execution: Execution) => {
    if (execution.status === 'SUCCEEDED') {
      out.print(summary(execution.output), outputAs(executionOutputs.restore, execution.output)?.restore);
    } else if (out.json) {
      out.print('', { status: execution.status, error: execution.error });
    } else {
      console.error(`Restore ${execution.status}: ${failureText(execution.error)}`);
    }
    return exitCodeForExecution(execution);
  };

  return withMachineRunner(context, { production: false, staging: false }, async (runner) => {
    // Before the target's secret is held or anything started.
    const vault = await runner.vault();
    await checkBackupExists(vault, target, runner.listCommand);
    await checkVerified(vault, target, allowUnverified);
    const secret = await runner.targetSecrets.hold(targetUrl);
    // From the moment the execution exists it owns the secret: its ForgetTarget state deletes it when
    // the restore ends, even if this CLI stops following. Before that, the CLI forgets what it held.
    let started = false;
    try {
      const execution = await runner.run('restore', restoreInput(request, secret.reference), {
        onStarted: () => {
          started = true;
        },
      });
      return execution === 'interrupted' ? exitCodes.interrupted : finish(execution);
    } finally {
      if (!started) await secret.forget();
    }
  });
}
