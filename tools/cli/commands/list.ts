/** `backupctl list`: every backup in the bucket with its time, size, verification and SHA-256. */
import { listBackups, readManifest } from '../../../lib/backup/catalog.ts';
import { formatBytes } from '../../../lib/notify/messages.ts';
import { type CommandContext, exitCodes, withTarget } from '../context.ts';

export async function listCommand({ place, out, deps }: CommandContext): Promise<number> {
  return withTarget(place, deps, async ({ runtime: { store } }) => {
    const rows = [];
    for (const entry of await listBackups(store)) {
      const manifest = await readManifest(store, entry.backupId);
      rows.push({
        backupId: entry.backupId,
        createdAt: manifest.createdAt,
        bytes: manifest.dump.bytes,
        verified: entry.verified,
        sha256: manifest.dump.sha256,
        database: manifest.source.database,
      });
    }
    const table = rows
      .map(
        (r) =>
          `${r.backupId}  ${r.createdAt}  ${formatBytes(r.bytes).padStart(10)}  ${r.verified ? 'verified  ' : 'UNVERIFIED'}  ${r.sha256}`,
      )
      .join('\n');
    out.print(rows.length ? table : 'No backups yet.', rows);
    return exitCodes.ok;
  });
}
