/**
 * `backupctl download <id|latest> [--out DIR]`: the dump, checked against its manifest while it
 * downloads, and the manifest beside it, for a restore by hand with a plain pg_restore (the runbook).
 */
import { resolve } from 'node:path';
import { downloadBackup } from '../../../lib/commands/download.ts';
import { InputValidationError } from '../../../lib/errors.ts';
import { formatBytes } from '../../../lib/notify/messages.ts';
import { type CommandContext, exitCodes, withTarget } from '../context.ts';
import { progressLine } from '../progress.ts';

/** A word for a POSIX shell: as is when plain, else single-quoted. */
const shellQuote = (word: string) =>
  /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", "'\\''")}'`;

/** The first major that knows `transaction_timeout`, which pg_restore 17 and newer always set. */
const transactionTimeoutSince = 170000;

/**
 * A server older than 17 (production's major is the natural target) rejects the one SET that every
 * pg_restore able to read a pg_dump 17+ archive sends: said here, so an exit status of 1 is not read
 * as a failed restore, nor a real error as a harmless one.
 */
const olderServerNote =
  'Into a server older than PostgreSQL 17, pg_restore 17 or newer reports `unrecognized configuration parameter "transaction_timeout"` (once per connection) and exits 1 with "errors ignored on restore": that error alone is harmless, any other is not. Compare the row counts with the manifest.';

export async function downloadCommand({ place, target, values, out, deps }: CommandContext): Promise<number> {
  if (!target) throw new InputValidationError('download needs a backup id or "latest"');
  const directory = resolve(typeof values.out === 'string' ? values.out : '.');
  return withTarget(place, deps, async ({ runtime }) => {
    const progress = progressLine('downloading', { json: out.json });
    const outcome = await downloadBackup(runtime, target, directory, {
      ...(progress ? { onProgress: (bytes: number, total: number) => progress.update(bytes, total) } : {}),
    });
    progress?.done();
    for (const s of outcome.skipped) console.error(`latest passed by ${s.backupId}: ${s.reason}`);
    const restoreArgs = `--no-owner --no-acl --jobs=4 --dbname='postgresql://USER@HOST:5432/DB' ${shellQuote(outcome.dumpPath)}`;
    out.print(
      [
        `${outcome.dumpPath}: ${formatBytes(outcome.bytes)}, SHA-256 ${outcome.sha256} matches its manifest.`,
        `Manifest: ${outcome.manifestPath} (PostgreSQL ${outcome.sourceServerVersion}; restore into that major or newer).`,
        ...(outcome.sourceServerVersionNum < transactionTimeoutSince ? [olderServerNote] : []),
        `Restore by hand with pg_restore ${outcome.archiveClientMajor} or newer (pg_dump ${outcome.archiveClientMajor} wrote it; an older pg_restore cannot read it), into an empty database:`,
        `  pg_restore ${restoreArgs}`,
        ...(outcome.bundledPgRestore
          ? [
              `or with this checkout's bundled pg_restore ${outcome.bundledPgRestore.version} (its own loader and libraries):`,
              `  ${outcome.bundledPgRestore.argv.map(shellQuote).join(' ')} ${restoreArgs}`,
            ]
          : []),
      ].join('\n'),
      outcome,
    );
    return exitCodes.ok;
  });
}
