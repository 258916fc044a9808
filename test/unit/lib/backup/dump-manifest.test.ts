/**
 * The Dump step's manifest from its phases' facts (lib/backup/dump-manifest.ts), and the tables' proof
 * those facts carry (lib/backup/dump-counting.ts `proveTables`): what the verifier will read back.
 */
import { describe, expect, it } from '@jest/globals';
import { type Counting, proveTables } from '../../../../lib/backup/dump-counting.ts';
import { buildManifest, type DumpFacts } from '../../../../lib/backup/dump-manifest.ts';
import { manifestProof, manifestSchema } from '../../../../lib/backup/manifest.ts';
import { contentSettings } from '../../../../lib/pg/content.ts';

const facts = (over: Partial<DumpFacts> = {}): DumpFacts => ({
  backupId: '2026-12-07T01-00-00Z',
  request: { trigger: 'schedule', compression: 'zstd:3' },
  connection: { host: 'db.example.com', port: 5432 },
  identity: {
    serverVersion: '17.2',
    serverVersionNum: 170002,
    systemIdentifier: '7312345678901234567',
    database: 'shop',
    databaseSizeBytes: 8_000_000,
  },
  bundle: { version: '17.2', major: 17 },
  dump: { bytes: 1234, sha256: 'a'.repeat(64), partSizeBytes: 8 * 1024 ** 2 },
  snapshot: {
    snapshotId: '00000003-0000001B-1',
    extensions: [{ name: 'plpgsql', version: '1.0', schema: 'pg_catalog' }],
    ownership: [],
    sequences: [{ schema: 'public', name: 'orders_id_seq', lastValue: '41', increment: '1' }],
  },
  startedAt: new Date('2026-12-07T01:00:00Z'),
  finishedAt: new Date('2026-12-07T01:02:00Z'),
  dumpSeconds: 110,
  countSeconds: 12.5,
  proof: { tables: [{ schema: 'public', table: 'orders', rows: 3 }] },
  warnings: [],
  ...over,
});

const counting = (measured: Awaited<Counting['measured']>, scan?: Awaited<ReturnType<Counting['scan']>>) => ({
  measured: Promise.resolve(measured),
  scan: async () => {
    if (!scan) throw new Error('no scan expected');
    return scan;
  },
  seconds: () => 1,
});

describe('buildManifest', () => {
  it('writes a counts manifest the verifier reads back, with its timings and without content', () => {
    const manifest = buildManifest(facts());
    expect(manifestSchema.parse(manifest)).toEqual(manifest);
    expect(manifestProof(manifest)).toBe('counts');
    expect(manifest).not.toHaveProperty('content');
    expect(manifest).not.toHaveProperty('reason');
    expect(manifest.createdAt).toBe('2026-12-07T01:00:00.000Z');
    expect(manifest.timings).toEqual({
      startedAt: '2026-12-07T01:00:00.000Z',
      finishedAt: '2026-12-07T01:02:00.000Z',
      dumpSeconds: 110,
      countSeconds: 12.5,
    });
    expect(manifest.client).toEqual({ program: 'pg_dump', version: '17.2', bundleMajor: 17 });
    expect(manifest.source).toMatchObject({ host: 'db.example.com', port: 5432, database: 'shop' });
  });

  it("adds the snapshot's sequences to the content, and the reason when one was given", () => {
    const content = {
      algorithm: 'row-md5-sum64-v1',
      settings: { ...contentSettings },
      largeObjects: { count: 0, checksum: '0' },
    };
    const manifest = buildManifest(
      facts({
        request: { trigger: 'manual', reason: 'before the migration', compression: 'gzip:6' },
        proof: { tables: [{ schema: 'public', table: 'orders', rows: 3, checksum: '17' }], content },
      }),
    );
    expect(manifestSchema.parse(manifest)).toEqual(manifest);
    expect(manifestProof(manifest)).toBe('checksums');
    expect(manifest.reason).toBe('before the migration');
    expect(manifest.content).toEqual({
      ...content,
      sequences: [{ schema: 'public', name: 'orders_id_seq', lastValue: '41', increment: '1' }],
    });
  });
});

describe('proveTables', () => {
  it("takes a scan's tables, and its content under the pinned settings", async () => {
    const largeObjects = { count: 1, checksum: '5' };
    const proof = await proveTables(
      counting({
        kind: 'scan',
        measure: {
          tables: [{ schema: 'public', table: 'orders', rows: 3, checksum: '17' }],
          content: { algorithm: 'row-md5-sum64-v1', largeObjects },
        },
      }),
      undefined,
    );
    expect(proof).toEqual({
      tables: [{ schema: 'public', table: 'orders', rows: 3, checksum: '17' }],
      content: { algorithm: 'row-md5-sum64-v1', settings: { ...contentSettings }, largeObjects },
    });
  });

  it('falls back to a scan in the same snapshot, and says why, when the stream could not be read', async () => {
    const scanned = { tables: [{ schema: 'public', table: 'orders', rows: 3, checksum: '17' }] };
    const proof = await proveTables(
      counting(
        {
          kind: 'stream',
          measure: {
            tables: [{ schema: 'public', table: 'orders' }],
            scanned: [],
            scanAlgorithm: 'row-hash-sum64-v3',
            largeObjects: { count: 0, checksum: '0' },
            settings: { TimeZone: 'UTC', bytea_output: 'hex', lc_monetary: 'C' },
            columnTypes: new Map(),
          },
        },
        scanned,
      ),
      Promise.resolve({ error: 'not a custom-format archive' }),
    );
    expect(proof).toEqual({ ...scanned, content: undefined, fallback: 'not a custom-format archive' });
  });
});
