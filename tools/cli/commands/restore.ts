/**
 * `backupctl restore <id|latest> --target-url URL [--jobs N]`: verify while downloading, restore into a
 * database that opted in (never production), and count every table there.
 */
import { restoreBackup } from '../../../lib/commands/restore.ts';
import { InputValidationError } from '../../../lib/errors.ts';
import { parseConnectionUrl } from '../../../lib/pg/connection.ts';
import { type CommandContext, exitCodes, withTarget } from '../context.ts';

export async function restoreCommand({ place, target, values, out, deps }: CommandContext): Promise<number> {
  if (!target) throw new InputValidationError('restore needs a backup id or "latest"');
  if (typeof values['target-url'] !== 'string') throw new InputValidationError('restore needs --target-url');
  const jobs = values.jobs === undefined ? undefined : Number(values.jobs);
  if (jobs !== undefined && (!Number.isInteger(jobs) || jobs < 1 || jobs > 64)) {
    throw new InputValidationError('--jobs must be a whole number from 1 to 64');
  }
  const connection = parseConnectionUrl(values['target-url'], '--target-url');
  return withTarget(place, deps, async ({ runtime }) => {
    const outcome = await restoreBackup(runtime, target, connection, { jobs });
    const { compare } = outcome;
    out.print(
      `${outcome.backupId} restored into ${outcome.database} in ${outcome.restoreSeconds.toFixed(1)} s; ` +
        `row counts ${compare.status} (${compare.tablesCompared} tables, ${compare.rowsCompared} rows).`,
      outcome,
    );
    return compare.status === 'match' ? exitCodes.ok : exitCodes.verificationFailed;
  });
}
