/** `backupctl verify <id|latest>`: re-hash the stored dump and read its archive, on this machine. */
import { resolveBackupId } from '../../../lib/backup/catalog.ts';
import { verifyArchive } from '../../../lib/commands/verify-archive.ts';
import { InputValidationError } from '../../../lib/errors.ts';
import { type CommandContext, exitCodes, withTarget } from '../context.ts';
import { stepProgress } from '../progress.ts';

export async function verifyCommand({ place, target, out, deps }: CommandContext): Promise<number> {
  if (!target) throw new InputValidationError('verify needs a backup id or "latest"');
  return withTarget(place, deps, async ({ runtime }) => {
    const backupId = await resolveBackupId(runtime.store, target);
    const progress = stepProgress({ json: out.json });
    const { manifest: _manifest, ...result } = await verifyArchive(
      runtime,
      backupId,
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
