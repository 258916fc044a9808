/** `backupctl verify <id|latest>`: re-hash the stored dump and read its archive, on this machine. */
import { resolveBackup } from '../../../lib/backup/catalog.ts';
import { verifyArchiveAndRecord } from '../../../lib/commands/verify-archive.ts';
import { InputValidationError } from '../../../lib/errors.ts';
import { type CommandContext, exitCodes, withTarget } from '../context.ts';
import { stepProgress } from '../progress.ts';

export async function verifyCommand({ place, target, out, deps }: CommandContext): Promise<number> {
  if (!target) throw new InputValidationError('verify needs a backup id or "latest"');
  return withTarget(place, deps, async ({ runtime }) => {
    const { backupId, skipped } = await resolveBackup(runtime.store, target);
    for (const s of skipped) console.error(`latest passed by ${s.backupId}: ${s.reason}`);
    const progress = stepProgress({ json: out.json });
    // Recorded against the backup: a mismatch takes it out of "latest" and turns the status red.
    const { manifest: _manifest, ...result } = await verifyArchiveAndRecord(
      runtime,
      backupId,
      'verify',
      undefined,
      progress.log,
    );
    progress.finish();
    out.print(
      result.status === 'match'
        ? `${backupId}: SHA-256 matches (${result.actual.sha256}), archive readable (${result.archiveEntries} entries).`
        : `${backupId}: CHECKSUM MISMATCH: expected ${result.expected.sha256}, got ${result.actual.sha256}.`,
      result,
    );
    return result.status === 'match' ? exitCodes.ok : exitCodes.verificationFailed;
  });
}
