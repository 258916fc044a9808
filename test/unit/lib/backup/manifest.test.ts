/**
 * A manifest read from the bucket is input from outside: a v2 checksum without the column plan it was
 * taken under cannot be compared, so such a manifest is refused by name, never half-trusted.
 */
import { describe, expect, it } from '@jest/globals';
import {
  type Manifest,
  parseManifest,
  parseVerification,
  proofLabelOf,
  proofWarning,
  verificationProofLabel,
} from '../../../../lib/backup/manifest.ts';
import { ManifestInvalidError } from '../../../../lib/errors.ts';

const manifest = (content: Manifest['content'], tables: Manifest['tables']): Manifest => ({
  manifestVersion: 1,
  backupId: 'b-1',
  createdAt: '2026-12-02T02:00:00.000Z',
  trigger: 'schedule',
  source: {
    host: 'db.example',
    port: 5432,
    database: 'shop',
    serverVersion: '16.4',
    serverVersionNum: 160004,
    systemIdentifier: null,
    databaseSizeBytes: 1,
  },
  client: { program: 'pg_dump', version: '18.1', bundleMajor: 18 },
  format: 'custom',
  compression: 'zstd:1',
  dump: { bytes: 1, sha256: 'a'.repeat(64), partSizeBytes: 1 },
  snapshotId: 's',
  timings: {
    startedAt: '2026-12-02T02:00:00.000Z',
    finishedAt: '2026-12-02T02:00:01.000Z',
    dumpSeconds: 1,
    countSeconds: 1,
  },
  tables,
  ...(content ? { content } : {}),
  warnings: [],
});

const content = (algorithm: string): Manifest['content'] => ({
  algorithm,
  settings: {},
  largeObjects: { count: 0, checksum: '0' },
  sequences: [],
});

const read = (value: Manifest) => parseManifest(JSON.stringify(value), 'manifest.json');

describe('parseManifest(), content checksums', () => {
  it('reads a v2 manifest with each table’s column plan', () => {
    const table = { schema: 'public', table: 'orders', rows: 2, checksum: '-12', columns: [['id', 'value']] };
    expect(read(manifest(content('row-hash-sum64-v2'), [table] as Manifest['tables'])).tables).toEqual([
      table,
    ]);
  });

  it('refuses a v2 checksum without its column plan, naming the field', () => {
    const tables = [{ schema: 'public', table: 'orders', rows: 2, checksum: '-12' }];
    expect(() => read(manifest(content('row-hash-sum64-v2'), tables))).toThrow(ManifestInvalidError);
    expect(() => read(manifest(content('row-hash-sum64-v2'), tables))).toThrow(/tables\.0\.columns/);
  });

  it('refuses a v3 checksum without its column plan, naming the field', () => {
    const tables = [{ schema: 'public', table: 'orders', rows: 2, checksum: '-12' }];
    expect(() => read(manifest(content('row-hash-sum64-v3'), tables))).toThrow(/row-hash-sum64-v3 checksum/);
    expect(() => read(manifest(content('row-hash-sum64-v3'), tables))).toThrow(/tables\.0\.columns/);
  });

  it('reads v1 manifests, which never had column plans', () => {
    const tables = [{ schema: 'public', table: 'orders', rows: 2, checksum: '-12' }];
    expect(read(manifest(content('row-md5-sum64-v1'), tables)).content?.algorithm).toBe('row-md5-sum64-v1');
  });

  it('refuses a column hashed in a way this version does not know', () => {
    const tables = [
      { schema: 'public', table: 'orders', rows: 2, checksum: '1', columns: [['id', 'crc32']] },
    ];
    expect(() => read(manifest(content('row-hash-sum64-v2'), tables as Manifest['tables']))).toThrow(
      /tables\.0\.columns\.0\.1/,
    );
  });
});

describe('proof labels', () => {
  const record = (fields: Record<string, unknown>) =>
    parseVerification(
      JSON.stringify({
        verificationVersion: 2,
        backupId: 'b-1',
        verifiedAt: '2026-12-02T02:10:00.000Z',
        sha256: 'a'.repeat(64),
        bytes: 1,
        restoreTarget: { kind: 'scratch', serverVersion: '16.4' },
        proof: 'checksums',
        downloadSeconds: 1,
        restoreSeconds: 1,
        compareSeconds: 1,
        tablesCompared: 1,
        rowsCompared: 2,
        benignRestoreMessages: [],
        ...fields,
      }),
      'verification.json',
    );

  it('says which checksums proved a backup, and that v2 cannot see values moved between rows', () => {
    expect(proofLabelOf('checksums', manifest(content('row-hash-sum64-v3'), []))).toBe('checksums-v3');
    expect(proofLabelOf('checksums', manifest(content('row-hash-sum64-v2'), []))).toBe(
      'checksums-v2 (weak: cannot see values moved between rows)',
    );
    expect(proofLabelOf('checksums', manifest(content('row-md5-sum64-v1'), []))).toBe('checksums-v1');
    expect(proofLabelOf('counts', manifest(content('row-hash-sum64-v3'), []))).toBe('counts');
  });

  it('warns on status lines about a weak proof only', () => {
    expect(proofWarning('checksums-v2 (weak: cannot see values moved between rows)')).toBe(
      ' (checksums-v2 (weak: cannot see values moved between rows))',
    );
    expect([proofWarning('checksums-v3'), proofWarning('checksums-v1'), proofWarning(undefined)]).toEqual([
      '',
      '',
      '',
    ]);
  });

  it('labels a record written before labels by its manifest, and keeps the label a record says', () => {
    const v2 = manifest(content('row-hash-sum64-v2'), []);
    expect(verificationProofLabel(record({}), v2)).toBe(
      'checksums-v2 (weak: cannot see values moved between rows)',
    );
    expect(verificationProofLabel(record({ proof: 'counts' }), v2)).toBe('counts');
    expect(verificationProofLabel(record({ proofLabel: 'checksums-v3' }), v2)).toBe('checksums-v3');
  });
});
