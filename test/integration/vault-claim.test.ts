/**
 * One vault, one database, at the door: Promote claims a vault for the database its manifest names and
 * refuses a backup of another database (or of the same name on another server) with
 * VaultDatabaseMismatchError, before anything is copied into backups/. A bucket written before vaults
 * recorded their database is claimed for the database its newest manifest names. Real S3 API (s3rver).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { promoteToVault } from '../../lib/backup/promote.ts';
import { BackupStore } from '../../lib/storage/backup-store.ts';
import { backupIdTime, keys } from '../../lib/storage/keys.ts';
import { createS3Client } from '../../lib/storage/s3-client.ts';
import { type LocalS3Server, startLocalS3Server } from '../../tools/local/s3-server.ts';
import { exampleManifest } from '../support/status-fixture.ts';

let s3: LocalS3Server;
let directory: string;
let buckets = 0;

beforeAll(async () => {
  directory = await mkdtemp(join(tmpdir(), 'vault-claim-'));
  s3 = await startLocalS3Server({ directory, buckets: [] });
});
afterAll(async () => {
  await s3?.stop();
  await rm(directory, { recursive: true, force: true });
});

async function freshStore(): Promise<BackupStore> {
  const client = createS3Client({ endpoint: s3.endpoint });
  const bucket = `vault-${++buckets}`;
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  return new BackupStore({ client, bucket });
}

/** A dump and its manifest in incoming/, as Dump leaves them. */
async function incoming(
  store: BackupStore,
  backupId: string,
  database: string,
  systemIdentifier: string | null,
): Promise<void> {
  const body = `dump of ${database}`;
  const manifest = exampleManifest(backupId, backupIdTime(backupId), body.length, { database });
  manifest.source.systemIdentifier = systemIdentifier;
  await store.putObject(keys.incomingDump(backupId), body, 'application/octet-stream');
  await store.putJson(keys.incomingManifest(backupId), manifest);
}

describe('promoteToVault and the vault record', () => {
  it('claims an empty vault, then refuses another database and the same name on another server', async () => {
    const store = await freshStore();
    await incoming(store, '20261201T020000Z-aaaaaa', 'shop', '7401');
    await promoteToVault('20261201T020000Z-aaaaaa', store);
    expect(JSON.parse(await store.getText(keys.vault))).toMatchObject({
      vaultVersion: 1,
      database: 'shop',
      systemIdentifier: '7401',
      claimedBy: '20261201T020000Z-aaaaaa',
    });

    await incoming(store, '20261202T020000Z-bbbbbb', 'queue', '7401');
    await expect(promoteToVault('20261202T020000Z-bbbbbb', store)).rejects.toMatchObject({
      name: 'VaultDatabaseMismatchError',
      message: expect.stringContaining('belongs to database "shop": a vault holds one database'),
    });
    await incoming(store, '20261203T020000Z-cccccc', 'shop', '9999');
    await expect(promoteToVault('20261203T020000Z-cccccc', store)).rejects.toMatchObject({
      name: 'VaultDatabaseMismatchError',
      message: expect.stringContaining('of another server (system identifier 7401)'),
    });
    // Nothing of the refused backups reached backups/.
    expect(await store.exists(keys.dump('20261202T020000Z-bbbbbb'))).toBe(false);
    expect(await store.exists(keys.dump('20261203T020000Z-cccccc'))).toBe(false);

    // Where the role may not read the system identifier, the name decides.
    await incoming(store, '20261204T020000Z-dddddd', 'shop', null);
    await promoteToVault('20261204T020000Z-dddddd', store);
    expect(await store.exists(keys.dump('20261204T020000Z-dddddd'))).toBe(true);
  });

  it('claims a bucket from before vault records for the database its newest manifest names', async () => {
    const store = await freshStore();
    const old = '20261101T020000Z-eeeeee';
    const body = 'old dump';
    await store.putObject(keys.dump(old), body, 'application/octet-stream');
    await store.putJson(keys.manifest(old), exampleManifest(old, backupIdTime(old), body.length));

    await incoming(store, '20261201T020000Z-ffffff', 'other', null);
    await expect(promoteToVault('20261201T020000Z-ffffff', store)).rejects.toMatchObject({
      name: 'VaultDatabaseMismatchError',
    });
    await incoming(store, '20261202T020000Z-abcdef', 'shop', '42');
    await promoteToVault('20261202T020000Z-abcdef', store);
    expect(JSON.parse(await store.getText(keys.vault))).toMatchObject({
      database: 'shop',
      systemIdentifier: '42',
    });
  });
});
