/**
 * `backupctl list`: every backup in the vault with its time, size, state and SHA-256: verified,
 * UNVERIFIED or CHECK FAILED with the reason (lib/backup/catalog.ts), then any DAMAGED object, skipped.
 */
import { readCatalog } from '../../../lib/backup/catalog.ts';
import { formatBytes } from '../../../lib/notify/messages.ts';
import { endedWithoutRecord } from '../../../lib/report/executions.ts';
import { type CommandContext, exitCodes, withTarget } from '../context.ts';

const stateWords = { verified: 'verified    ', unverified: 'UNVERIFIED  ', 'check-failed': 'CHECK FAILED' };

export async function listCommand({ place, out, deps }: CommandContext): Promise<number> {
  return withTarget(place, deps, async ({ runtime: { store }, executions }) => {
    const catalog = await readCatalog(store);
    // A local run killed without a trace (kill -9) may have left a dump behind; say that it ended so.
    const lost =
      place.kind === 'local'
        ? (await executions(new Date(Date.now() - 30 * 86_400_000))).filter(
            (e) => e.error?.name === endedWithoutRecord,
          )
        : [];
    const rows = catalog.backups.map(({ manifest, ...entry }) => ({
      backupId: entry.backupId,
      createdAt: manifest.createdAt,
      bytes: manifest.dump.bytes,
      verified: entry.verified,
      state: entry.state,
      reason: entry.reason,
      sha256: manifest.dump.sha256,
      database: manifest.source.database,
    }));
    const lines = [
      ...rows.map(
        (r) =>
          `${r.backupId}  ${r.createdAt}  ${formatBytes(r.bytes).padStart(10)}  ${stateWords[r.state]}  ${r.sha256}${r.verified ? '' : `\n    ${r.reason}`}`,
      ),
      ...catalog.damaged.map((d) => `DAMAGED  ${d.key}: ${d.reason} (skipped)`),
      ...lost.map(
        (e) =>
          `A ${e.stateMachine} run started ${e.startedAt} ended without a record (killed?); \`backupctl audit\` shows it.`,
      ),
    ];
    // Damaged objects are rows too (state "damaged"), after the backups: the JSON stays one list.
    const damaged = catalog.damaged.map((d) => ({ ...d, verified: false, state: 'damaged' as const }));
    out.print(lines.length ? lines.join('\n') : 'No backups yet.', [...rows, ...damaged]);
    return exitCodes.ok;
  });
}
