/**
 * The comparison of a restored copy with its manifest: every table's row count first (fast, and what
 * a difference in rows is named by), then, when the manifest holds content checksums and the caller
 * asks for them, every table's content, the large objects and the sequences (lib/pg/content.ts). The
 * result is data; the caller turns a mismatch into RowCountMismatchError or ContentMismatchError once
 * it is recorded. No row data ever enters a result: tables are named, values are not.
 */
import { type Manifest, manifestProof, type ProofLevel } from '../backup/manifest.ts';
import { ContentMismatchError, ManifestInvalidError, RowCountMismatchError } from '../errors.ts';
import type { PgConnection } from '../pg/connection.ts';
import {
  type ContentAlgorithm,
  largeObjectContent,
  pinContentSettings,
  sequencesBehind,
  type TableContent,
  tableContent,
  takeableAlgorithm,
} from '../pg/content.ts';
import { countRows, listTables } from '../pg/row-counts.ts';
import { planDifferences } from '../pg/row-hash.ts';
import { openSession, quoteLiteral, type Session } from '../pg/session.ts';
import { type CopyTextSettings, digestRestoredTables, streamContentAlgorithm } from '../pg/stream-content.ts';
import { qualified, tableKey } from '../pg/tables.ts';
import { leaseSchema } from './staging-lease.ts';

export interface TableDifference {
  schema: string;
  table: string;
  expected: number;
  actual: number;
}

export interface CompareResult {
  status: 'match' | 'mismatch';
  /** What was compared: the counts only, or the content too. */
  proof: ProofLevel;
  tablesCompared: number;
  rowsCompared: number;
  /** Tables whose counts differ (matching tables are not listed: 1,000 tables must fit a step output). */
  tables: TableDifference[];
  missing: string[];
  extra: string[];
  /** Content differences with equal counts: tables, the large objects, sequences (names only). */
  content: string[];
}

export interface CompareOptions {
  /** Compare content where the manifest recorded it; counts only otherwise or when false. */
  content: boolean;
  /**
   * Scan the tables on up to `jobs` sessions of `connection` (the caller's session among them), all in
   * one snapshot: a restore's pg_restore -jN had that many, and the comparison then takes about 1/N
   * of the time on N cores. Without it, or when further sessions cannot be opened, the caller's only.
   */
  parallel?: { connection: PgConnection; jobs: number } | undefined;
}

export async function compareRowCounts(
  session: Session,
  manifest: Manifest,
  options: CompareOptions = { content: false },
): Promise<CompareResult> {
  // The staging lease is ours, not the backup's: it is never a difference.
  const present = (await listTables(session)).filter((t) => t.schema !== leaseSchema);
  const presentNames = new Set(present.map(tableKey));
  const expectedNames = new Set(manifest.tables.map(tableKey));
  const missing = manifest.tables.filter((t) => !presentNames.has(tableKey(t)));
  const extra = present.filter((t) => !expectedNames.has(tableKey(t))).map(qualified);
  const comparable = manifest.tables.filter((t) => presentNames.has(tableKey(t)));
  const algorithm =
    options.content && manifestProof(manifest) === 'checksums'
      ? await comparableAlgorithm(session, manifest)
      : undefined;
  if (algorithm && algorithm !== streamContentAlgorithm) {
    // Checksums taken by a scan: each table's count comes from the same scan as its checksum (one
    // read of the table, not two), and the counts are still compared first.
    const namesMatch = missing.length === 0 && extra.length === 0;
    const scanned = await scanRestored(
      session,
      manifest,
      comparable,
      algorithm,
      namesMatch,
      options.parallel,
    );
    return { ...scanned, missing: missing.map(qualified).slice(0, 100), extra: extra.slice(0, 100) };
  }
  const actual = await countRows(session, comparable);
  const actualByName = new Map(actual.map((t) => [tableKey(t), t.rows]));

  const tables: TableDifference[] = [];
  for (const expected of comparable) {
    const rows = actualByName.get(tableKey(expected)) ?? -1;
    if (rows !== expected.rows) {
      tables.push({ schema: expected.schema, table: expected.table, expected: expected.rows, actual: rows });
    }
  }
  const countsMatch = tables.length === 0 && missing.length === 0 && extra.length === 0;
  const proof: ProofLevel = algorithm ? 'checksums' : 'counts';
  // Content only once the counts agree: a difference in rows is reported as such, by table.
  const content =
    algorithm && countsMatch ? await compareContent(session, manifest, comparable, algorithm) : [];
  return {
    status: countsMatch && content.length === 0 ? 'match' : 'mismatch',
    proof,
    tablesCompared: comparable.length,
    rowsCompared: actual.reduce((sum, t) => sum + t.rows, 0),
    tables: tables.slice(0, 100),
    missing: missing.map(qualified).slice(0, 100),
    extra: extra.slice(0, 100),
    content: content.slice(0, 100),
  };
}

/**
 * The manifest's checksum algorithm if this server can take it: one we know (a later one is never
 * compared across) and the server supports (v2 needs PostgreSQL 14; a restore target may be older).
 * v4 is hashed here, in Node, on any server; its scan of tables with generated columns needs the scan's
 * algorithm to be takeable too.
 */
async function comparableAlgorithm(
  session: Session,
  manifest: Manifest,
): Promise<ContentAlgorithm | typeof streamContentAlgorithm | undefined> {
  const { rows } = await session.query<{ n: string }>("SELECT current_setting('server_version_num') AS n");
  const server = Number(rows[0]?.n ?? 0);
  const algorithm = manifest.content?.algorithm ?? '';
  if (algorithm !== streamContentAlgorithm) return takeableAlgorithm(algorithm, server);
  const scans = manifest.tables.some((t) => t.scanChecksum !== undefined);
  const scanAlgorithm = manifest.content?.scanAlgorithm;
  if (scans && (scanAlgorithm === undefined || !takeableAlgorithm(scanAlgorithm, server))) return undefined;
  return streamContentAlgorithm;
}

/**
 * The restored tables scanned once each, in one snapshot, for their counts and checksums (`algorithm`
 * v1 to v3): the counts are compared first, and only when every count and name matches
 * (`namesMatch`) the content: each table's column plan and checksum, then the large objects, then the
 * sequences, as readable names in the manifest's order.
 */
async function scanRestored(
  session: Session,
  manifest: Manifest,
  comparable: Manifest['tables'],
  algorithm: ContentAlgorithm,
  namesMatch: boolean,
  parallel: CompareOptions['parallel'],
): Promise<Omit<CompareResult, 'missing' | 'extra'>> {
  const recorded = manifest.content;
  await session.query('BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY');
  try {
    await pinContentSettings(session, 'LOCAL');
    const measured = new Map(
      (await scanInParallel(session, comparable, algorithm, parallel)).map((t) => [tableKey(t), t]),
    );
    const tables: TableDifference[] = [];
    let rowsCompared = 0;
    for (const expected of comparable) {
      const rows = measured.get(tableKey(expected))?.rows ?? -1;
      if (rows >= 0) rowsCompared += rows;
      if (rows !== expected.rows) {
        tables.push({
          schema: expected.schema,
          table: expected.table,
          expected: expected.rows,
          actual: rows,
        });
      }
    }
    const differences: string[] = [];
    // Content only once the counts agree: a difference in rows is reported as such, by table.
    if (recorded && namesMatch && tables.length === 0) {
      for (const table of comparable) {
        if (table.checksum === undefined) continue;
        const restored = measured.get(tableKey(table));
        const columns =
          table.columns && restored?.columns ? planDifferences(table.columns, restored.columns) : [];
        if (columns.length > 0) differences.push(`${qualified(table)}: ${columns.join(', ')}`);
        else if (restored?.checksum !== table.checksum)
          differences.push(`${qualified(table)}: content differs`);
      }
      differences.push(...(await beyondTables(session, recorded)));
    }
    return {
      status: namesMatch && tables.length === 0 && differences.length === 0 ? 'match' : 'mismatch',
      proof: 'checksums',
      tablesCompared: comparable.length,
      rowsCompared,
      tables: tables.slice(0, 100),
      content: differences.slice(0, 100),
    };
  } finally {
    await session.query('ROLLBACK').catch(() => undefined);
  }
}

/**
 * `tableContent` of every table, on `session` (inside its repeatable-read transaction, settings
 * pinned) and up to `jobs - 1` further sessions that import its snapshot: the same rows, read at once
 * on several cores. The tables are dealt largest first to the least loaded session. A session that
 * cannot be opened (the server's connection limit) leaves its share to the others.
 */
async function scanInParallel(
  session: Session,
  tables: Manifest['tables'],
  algorithm: ContentAlgorithm,
  parallel: CompareOptions['parallel'],
): Promise<TableContent[]> {
  const wanted = Math.min(parallel?.jobs ?? 1, tables.length);
  if (!parallel || wanted < 2) return tableContent(session, tables, algorithm);
  const { rows: sizes } = await session.query<{ schema: string; table: string; bytes: string }>(
    `SELECT n.nspname AS schema, c.relname AS table, pg_catalog.pg_table_size(c.oid)::text AS bytes
       FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind = 'r'`,
  );
  const bytes = new Map(sizes.map((row) => [tableKey(row), Number(row.bytes)]));
  const { rows: exported } = await session.query<{ id: string }>(
    'SELECT pg_catalog.pg_export_snapshot() AS id',
  );
  const snapshot = exported[0]?.id ?? '';
  const helpers: Session[] = [];
  try {
    for (let i = 1; i < wanted; i++) {
      const helper = await openSession(parallel.connection).catch(() => undefined);
      if (!helper) break;
      helpers.push(helper);
      await helper.query('BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY');
      await helper.query(`SET TRANSACTION SNAPSHOT ${quoteLiteral(snapshot)}`);
      await pinContentSettings(helper, 'LOCAL');
    }
    const sessions = [session, ...helpers];
    const shares = sessions.map(() => ({ bytes: 0, tables: [] as Manifest['tables'] }));
    const largestFirst = [...tables].sort(
      (a, b) => (bytes.get(tableKey(b)) ?? 0) - (bytes.get(tableKey(a)) ?? 0),
    );
    for (const table of largestFirst) {
      const share = shares.reduce((least, s) => (s.bytes < least.bytes ? s : least));
      share.tables.push(table);
      share.bytes += bytes.get(tableKey(table)) ?? 0;
    }
    const results = await Promise.all(
      sessions.map((s, i) => {
        const share = shares[i]?.tables ?? [];
        return share.length > 0 ? tableContent(s, share, algorithm) : [];
      }),
    );
    return results.flat();
  } finally {
    for (const helper of helpers) {
      await helper.query('ROLLBACK').catch(() => undefined);
      await helper.end().catch(() => undefined);
    }
  }
}

/**
 * Tables whose columns or checksums differ, then the large objects, then sequences, as readable names.
 */
async function compareContent(
  session: Session,
  manifest: Manifest,
  comparable: Manifest['tables'],
  algorithm: ContentAlgorithm | typeof streamContentAlgorithm,
): Promise<string[]> {
  const recorded = manifest.content;
  if (!recorded) return [];
  const differences: string[] = [];
  if (algorithm === streamContentAlgorithm) {
    const settings = copySettingsOf(recorded.settings);
    const streamed = comparable.flatMap((t) => (t.copyColumns ? [{ ...t, copyColumns: t.copyColumns }] : []));
    const restored = await digestRestoredTables(session, streamed, settings);
    for (const table of streamed) {
      const columns = restored.columns.get(tableKey(table));
      const actual = restored.digests.get(tableKey(table));
      if (columns) differences.push(`${qualified(table)}: ${columns.join(', ')}`);
      else if (actual?.checksum !== table.checksum || actual?.rows !== table.rows)
        differences.push(`${qualified(table)}: content differs`);
    }
  }
  await session.query('BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY');
  try {
    await pinContentSettings(session, 'LOCAL');
    const scanAlgorithm =
      algorithm === streamContentAlgorithm
        ? takeableAlgorithm(recorded.scanAlgorithm ?? '', Number.MAX_SAFE_INTEGER)
        : algorithm;
    const scanned = comparable.filter((t) =>
      algorithm === streamContentAlgorithm ? t.scanChecksum !== undefined : t.checksum !== undefined,
    );
    if (scanAlgorithm && scanned.length > 0) {
      const actual = new Map(
        (await tableContent(session, scanned, scanAlgorithm)).map((t) => [tableKey(t), t]),
      );
      for (const table of scanned) {
        const expected = algorithm === streamContentAlgorithm ? table.scanChecksum : table.checksum;
        const restored = actual.get(tableKey(table));
        const columns =
          table.columns && restored?.columns ? planDifferences(table.columns, restored.columns) : [];
        if (columns.length > 0) differences.push(`${qualified(table)}: ${columns.join(', ')}`);
        else if (restored?.checksum !== expected)
          differences.push(
            `${qualified(table)}: content differs${algorithm === streamContentAlgorithm ? ' (generated columns)' : ''}`,
          );
      }
    }
    differences.push(...(await beyondTables(session, recorded)));
    return differences;
  } finally {
    await session.query('ROLLBACK').catch(() => undefined);
  }
}

/** What the content proof holds beyond the tables: the large objects and the sequences' values. */
async function beyondTables(session: Session, recorded: NonNullable<Manifest['content']>): Promise<string[]> {
  const differences: string[] = [];
  const objects = await largeObjectContent(session);
  if (objects.count !== recorded.largeObjects.count || objects.checksum !== recorded.largeObjects.checksum) {
    differences.push(
      `large objects: ${objects.count === recorded.largeObjects.count ? 'content differs' : `expected ${recorded.largeObjects.count}, found ${objects.count}`}`,
    );
  }
  differences.push(...(await sequencesBehind(session, recorded.sequences)));
  return differences;
}

/** A v4 manifest's recorded COPY-text settings; a missing one is a manifest this code did not write. */
function copySettingsOf(settings: Record<string, string>): CopyTextSettings & { client_encoding: string } {
  const read = (name: string) => {
    const value = settings[name];
    if (value === undefined) throw new ManifestInvalidError(`the manifest's content settings lack ${name}`);
    return value;
  };
  return {
    TimeZone: read('TimeZone'),
    bytea_output: read('bytea_output'),
    lc_monetary: read('lc_monetary'),
    client_encoding: read('client_encoding'),
  };
}

/** The differences as people read them, the first few of each kind. */
export function describeDifferences(result: CompareResult, limit = 5): string[] {
  return [
    ...result.tables.slice(0, limit).map((t) => `${qualified(t)}: expected ${t.expected}, found ${t.actual}`),
    ...result.missing.slice(0, limit).map((name) => `${name}: missing`),
    ...result.extra.slice(0, limit).map((name) => `${name}: not in the backup`),
    ...result.content.slice(0, limit),
  ];
}

/**
 * A mismatch becomes RowCountMismatchError (rows differ) or ContentMismatchError (every count matches,
 * values do not) with the diff, once the result has been recorded.
 */
export function assertRestoreMatches(result: CompareResult, backupId: string, where: string): void {
  if (result.status === 'match') return;
  if (result.tables.length === 0 && result.missing.length === 0 && result.extra.length === 0) {
    throw new ContentMismatchError(
      `every row count in ${where} matches the manifest of ${backupId}, but the content does not (${result.content.length} difference(s)): ${result.content.slice(0, 10).join('; ')}`,
      { details: { content: result.content } },
    );
  }
  throw new RowCountMismatchError(
    `row counts in ${where} differ from the manifest of ${backupId} (${result.tables.length} differ, ${result.missing.length} missing, ${result.extra.length} extra): ${describeDifferences(result).join('; ')}`,
    { details: { ...result } },
  );
}
