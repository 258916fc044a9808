/**
 * One bucket, several databases: each database's vault is apart from the others' on a real S3 API
 * (s3rver), and the connection URL's database keeps the top-level layout a single-database bucket has.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { CreateBucketCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { listBackups } from '../../lib/backup/catalog.ts';
import { BackupStore } from '../../lib/storage/backup-store.ts';
import { backupIdTime, keys } from '../../lib/storage/keys.ts';
import { createS3Client } from '../../lib/storage/s3-client.ts';
import { type LocalS3Server, startLocalS3Server } from '../../tools/local/s3-server.ts';
import { exampleManifest } from '../support/status-fixture.ts';

let s3: LocalS3Server;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'scopes-'));
  s3 = await startLocalS3Server({ directory: dir });
});

afterAll(async () => {
  await s3?.stop();
  await rm(dir, { recursive: true, force: true });
});

const first = '20261201T020000Z-aaaaaa';
const second = '20261201T020500Z-bbbbbb';

async function putBackup(store: BackupStore, backupId: string, body: string) {
  await store.putObject(keys.dump(backupId), body, 'application/octet-stream');
  await store.putJson(
    keys.manifest(backupId),
    exampleManifest(backupId, backupIdTime(backupId), body.length),
  );
}

describe('database vaults in one bucket', () => {
  it("keeps each database's backups, status and uploads apart, the URL's database at the top level", async () => {
    const client = createS3Client({ endpoint: s3.endpoint });
    await client.send(new CreateBucketCommand({ Bucket: 'scopes' }));
    const root = new BackupStore({ client, bucket: 'scopes' });
    const queue = root.forScope('queue');
    const slashed = root.forScope('a/b');

    await putBackup(root, first, 'app');
    await putBackup(queue, second, 'queue!');
    await putBackup(slashed, first, 'slash');
    await queue.putJson('status/status.json', { state: 'ok' });

    // The bucket's own keys: the URL's database as a single-database bucket has them, others in db=.
    const listed = await client.send(new ListObjectsV2Command({ Bucket: 'scopes' }));
    const raw = (listed.Contents ?? []).map((o) => o.Key);
    expect(raw).toEqual(
      expect.arrayContaining([
        'backups/2026/12/01/20261201T020000Z-aaaaaa.dump',
        'backups/db=queue/2026/12/01/20261201T020500Z-bbbbbb.dump',
        'backups/db=a%2Fb/2026/12/01/20261201T020000Z-aaaaaa.dump',
        'status/db=queue/status.json',
      ]),
    );

    expect((await listBackups(root)).map((b) => [b.backupId, b.dumpBytes])).toEqual([[first, 3]]);
    expect((await listBackups(queue)).map((b) => [b.backupId, b.dumpBytes])).toEqual([[second, 6]]);
    expect((await listBackups(slashed)).map((b) => [b.backupId, b.dumpBytes])).toEqual([[first, 5]]);
    expect(await root.exists('status/status.json')).toBe(false);
    expect(await queue.getText(keys.dump(second))).toBe('queue!');
    expect(await root.databaseScopes()).toEqual(['a/b', 'queue']);

    // A copy and an upload stay inside their vault.
    await queue.copy(keys.dump(second), 'incoming/copied.dump', { bytes: 6, metadata: {} });
    expect(await queue.exists('incoming/copied.dump')).toBe(true);
    expect(await root.exists('incoming/copied.dump')).toBe(false);
    await queue.uploadStream('incoming/streamed.dump', Readable.from([Buffer.from('streamed')]), {
      partSize: 8 * 1024 * 1024,
    });
    expect((await queue.list('incoming/')).map((o) => o.key).sort()).toEqual([
      'incoming/copied.dump',
      'incoming/streamed.dump',
    ]);
    expect(await root.list('incoming/')).toEqual([]);
  });

  it('refuses a database name no PostgreSQL database can have', () => {
    const root = new BackupStore({ client: createS3Client({ endpoint: s3.endpoint }), bucket: 'scopes' });
    expect(() => root.forScope('x'.repeat(64))).toThrow(/1 to 63 bytes/);
    expect(() => root.forScope('')).toThrow(/1 to 63 bytes/);
  });
});
