/**
 * One vault, one database. A vault records which database it belongs to (`backups/vault.json`, or
 * `backups/db=<name>/vault.json`): the database's name and, where the role may read it, the server's
 * system identifier (pg_control_system(); null where a provider revoked it, and then the name alone
 * decides). The first backup promoted into a vault claims it; a bucket written before vaults recorded
 * this is claimed for the database its newest manifest names, so existing buckets read as before.
 *
 * A backup of another database never lands in a vault: Promote refuses it with
 * VaultDatabaseMismatchError, and the Plan step gives the connection URL's database a vault of its own
 * when the top-level one already belongs to another database (the URL was pointed elsewhere).
 */
import { z } from 'zod';
import { VaultDatabaseMismatchError } from '../errors.ts';
import type { BackupStore } from '../storage/backup-store.ts';
import { keys } from '../storage/keys.ts';
import { newestManifest } from './catalog.ts';
import type { DatabaseTarget } from './databases.ts';
import { type Manifest, parseStoredRecord } from './manifest.ts';

const vaultRecordSchema = z.strictObject({
  vaultVersion: z.literal(1),
  database: z.string(),
  systemIdentifier: z.string().nullable(),
  claimedAt: z.iso.datetime(),
  claimedBy: z.string(),
});
export type VaultRecord = z.infer<typeof vaultRecordSchema>;

export interface DatabaseIdentity {
  database: string;
  systemIdentifier: string | null;
}

/** Whose vault this is: its record, else (a bucket from before records) its newest manifest's source. */
export async function vaultOwner(store: BackupStore): Promise<DatabaseIdentity | undefined> {
  if (await store.exists(keys.vault)) {
    const record = parseStoredRecord(
      vaultRecordSchema,
      await store.getText(keys.vault),
      keys.vault,
      'vault record',
    );
    return { database: record.database, systemIdentifier: record.systemIdentifier };
  }
  const newest = await newestManifest(store);
  return newest
    ? { database: newest.source.database, systemIdentifier: newest.source.systemIdentifier }
    : undefined;
}

/** Why `identity` may not write into a vault owned by `owner`, or undefined when it may. */
export function ownerConflict(owner: DatabaseIdentity, identity: DatabaseIdentity): string | undefined {
  if (owner.database !== identity.database) return `database "${owner.database}"`;
  if (
    owner.systemIdentifier !== null &&
    identity.systemIdentifier !== null &&
    owner.systemIdentifier !== identity.systemIdentifier
  ) {
    return `database "${owner.database}" of another server (system identifier ${owner.systemIdentifier})`;
  }
  return undefined;
}

const describe = (identity: DatabaseIdentity) =>
  `"${identity.database}"${identity.systemIdentifier ? ` (system identifier ${identity.systemIdentifier})` : ''}`;

/**
 * Claims the vault for the manifest's database, or refuses: called by Promote before anything is copied
 * into backups/. Writes the record when the vault has none yet.
 */
export async function claimVault(store: BackupStore, manifest: Manifest): Promise<void> {
  const identity = { database: manifest.source.database, systemIdentifier: manifest.source.systemIdentifier };
  const owner = await vaultOwner(store);
  const conflict = owner ? ownerConflict(owner, identity) : undefined;
  if (owner && conflict) {
    const where = `s3://${store.bucket}/backups/${store.scope === undefined ? '' : `db=${encodeURIComponent(store.scope)}/`}`;
    throw new VaultDatabaseMismatchError(
      `backup ${manifest.backupId} is of ${describe(identity)}, but the vault ${where} belongs to ${conflict}: a vault holds one database. ` +
        'Point the stage at the database its vault belongs to, give this one a stage (or bucket) of its own, or, for ' +
        `another database of the same server, list it in the stage's databases (DATABASES) so it gets a vault of its own`,
      {
        details: { backupId: manifest.backupId, vaultDatabase: owner.database, database: identity.database },
      },
    );
  }
  if (!(await store.exists(keys.vault))) {
    const record: VaultRecord = {
      vaultVersion: 1,
      database: identity.database,
      systemIdentifier: identity.systemIdentifier ?? owner?.systemIdentifier ?? null,
      claimedAt: new Date().toISOString(),
      claimedBy: manifest.backupId,
    };
    await store.putJson(keys.vault, record);
  }
}

/**
 * Where the Plan step puts a database: the URL's own database keeps the top-level vault only while
 * that vault is its own (or nobody's); else it gets a vault of its own, as any other database does.
 */
export async function placeDatabase(store: BackupStore, target: DatabaseTarget): Promise<DatabaseTarget> {
  if (target.scope !== null) return target;
  const owner = await vaultOwner(store);
  if (!owner || owner.database === target.database) return target;
  return { database: target.database, scope: target.database };
}
