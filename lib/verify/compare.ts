/**
 * The comparison of a restored copy with its manifest: every table's row count first (fast, and what
 * a difference in rows is named by), then, when the manifest holds content checksums and the caller
 * asks for them, every table's content, the large objects and the sequences (lib/pg/content.ts). The
 * result is data; the caller turns a mismatch into RowCountMismatchError or ContentMismatchError once
 * it is recorded. No row data ever enters a result: tables are named, values are not.
 */
import { availableParallelism } from 'node:os';
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
import type { Session } from '../pg/session.ts';
import { readTablesInSnapshot } from '../pg/snapshot-sessions.ts';
import {
  type CopyTextSettings,
  digestRestoredTables,
  digestSettledTables,
  type RestoredDigests,
  streamContentAlgorithm,
} from '../pg/stream-content.ts';
import { qualified, type TableName, tableKey } from '../pg/tables.ts';
import type { compareBesideModes } from '../settings.ts';
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
  /**
   * The restored tables' v4 digests, taken beside the restore's post-data section
   * (`digestRestoredBeside`): used instead of copying the tables again.
   */
  digested?: RestoredDigests | undefined;
}

/**
 * The v4 digests of the restored tables, to be taken while pg_restore builds indexes and constraints
 * (its data section is in: no row changes any more), on up to `jobs` sessions of `connection`
 * (lib/pg/stream-content.ts, `digestSettledTables`). Undefined when the manifest holds no v4 proof:
 * the comparison then reads the tables afterwards, as always.
 */
export async function digestRestoredBeside(
  connection: PgConnection,
  manifest: Manifest,
  jobs: number,
): Promise<RestoredDigests | undefined> {
  const recorded = manifest.content;
  if (manifestProof(manifest) !== 'checksums' || recorded?.algorithm !== streamContentAlgorithm)
    return undefined;
  return digestSettledTables(
    connection,
    streamableTables(manifest.tables),
    copySettingsOf(recorded.settings),
    jobs,
  );
}

/** Whether to read beside the indexes (the COMPARE_BESIDE_INDEXES setting): `auto` wants a spare CPU. */
export function compareBesideIndexes(
  setting: (typeof compareBesideModes)[number],
  jobs: number,
  cpus = availableParallelism(),
): boolean {
  return setting === 'on' || (setting === 'auto' && cpus > jobs);
}

/** The tables of a v4 manifest whose COPY columns it recorded: the ones the stream proves. */
function streamableTables(tables: Manifest['tables']) {
  return tables.flatMap((t) => (t.copyColumns ? [{ ...t, copyColumns: t.copyColumns }] : []));
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
  if (algorithm === streamContentAlgorithm) {
    const namesMatch = missing.length === 0 && extra.length === 0;
    const streamed = await compareStreamed(session, manifest, comparable, namesMatch, options);
    return { ...streamed, missing: missing.map(qualified).slice(0, 100), extra: extra.slice(0, 100) };
  }
  const actual = await countRows(session, comparable);
  const actualByName = new Map(actual.map((t) => [tableKey(t), t.rows]));

  const { tables, rowsCompared } = countDifferences(comparable, (t) => actualByName.get(tableKey(t)) ?? -1);
  const countsMatch = tables.length === 0 && missing.length === 0 && extra.length === 0;
  return {
    status: countsMatch ? 'match' : 'mismatch',
    proof: 'counts',
    tablesCompared: comparable.length,
    rowsCompared,
    tables: tables.slice(0, 100),
    missing: missing.map(qualified).slice(0, 100),
    extra: extra.slice(0, 100),
    content: [],
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
    const counted = countDifferences(comparable, (t) => measured.get(tableKey(t))?.rows ?? -1);
    const differences: string[] = [];
    // Content only once the counts agree: a difference in rows is reported as such, by table.
    if (recorded && namesMatch && counted.tables.length === 0) {
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
    return checksumsOutcome(namesMatch, comparable, counted, differences);
  } finally {
    await session.query('ROLLBACK').catch(() => undefined);
  }
}

/**
 * `tableContent` of every table, on `session` (inside its repeatable-read transaction, settings
 * pinned) and up to `jobs - 1` further sessions that import its snapshot (lib/pg/snapshot-sessions.ts).
 */
function scanInParallel(
  session: Session,
  tables: Manifest['tables'],
  algorithm: ContentAlgorithm,
  parallel: CompareOptions['parallel'],
): Promise<TableContent[]> {
  return readTablesInSnapshot(
    session,
    tables,
    parallel,
    (helper) => pinContentSettings(helper, 'LOCAL'),
    (s, share) => tableContent(s, share, algorithm),
  );
}

/**
 * A v4 manifest's tables against the restored copy, each read once: copied out and hashed as pg_dump
 * copied it (lib/pg/stream-content.ts), on up to `jobs` sessions in one snapshot, which gives each
 * table's rows and checksum together. A table that cannot be copied that way (its columns differ, or
 * the manifest holds no COPY columns for it) is counted instead. The counts are compared first, and
 * only when every count and name matches the content: each table's columns and checksum, then the
 * tables with generated columns by a scan, the large objects and the sequences.
 */
async function compareStreamed(
  session: Session,
  manifest: Manifest,
  comparable: Manifest['tables'],
  namesMatch: boolean,
  options: Pick<CompareOptions, 'parallel' | 'digested'>,
): Promise<Omit<CompareResult, 'missing' | 'extra'>> {
  const recorded = manifest.content;
  if (!recorded)
    throw new ManifestInvalidError('the manifest names the stream checksum but holds no content record');
  const streamable = streamableTables(comparable);
  const restored =
    options.digested ??
    (await digestRestoredTables(session, streamable, copySettingsOf(recorded.settings), options.parallel));
  const uncopied = comparable.filter((t) => !restored.digests.has(tableKey(t)));
  const countedApart = new Map((await countRows(session, uncopied)).map((t) => [tableKey(t), t.rows]));
  const rowsOf = (t: TableName) =>
    restored.digests.get(tableKey(t))?.rows ?? countedApart.get(tableKey(t)) ?? -1;

  const counted = countDifferences(comparable, rowsOf);
  const differences: string[] = [];
  // Content only once the counts agree: a difference in rows is reported as such, by table.
  if (namesMatch && counted.tables.length === 0) {
    for (const table of streamable) {
      const columns = restored.columns.get(tableKey(table));
      if (columns) differences.push(`${qualified(table)}: ${columns.join(', ')}`);
      else if (restored.digests.get(tableKey(table))?.checksum !== table.checksum)
        differences.push(`${qualified(table)}: content differs`);
    }
    differences.push(...(await beyondStream(session, recorded, comparable)));
  }
  return checksumsOutcome(namesMatch, comparable, counted, differences);
}

/** Each table's restored rows (-1: not there) against the manifest's: the differences and the rows seen. */
function countDifferences(
  comparable: Manifest['tables'],
  rowsOf: (table: TableName) => number,
): { tables: TableDifference[]; rowsCompared: number } {
  const tables: TableDifference[] = [];
  let rowsCompared = 0;
  for (const expected of comparable) {
    const rows = rowsOf(expected);
    if (rows >= 0) rowsCompared += rows;
    if (rows !== expected.rows) {
      tables.push({ schema: expected.schema, table: expected.table, expected: expected.rows, actual: rows });
    }
  }
  return { tables, rowsCompared };
}

/** A comparison with content: a match only when every name, count and checksum agrees. */
function checksumsOutcome(
  namesMatch: boolean,
  comparable: Manifest['tables'],
  counted: { tables: TableDifference[]; rowsCompared: number },
  differences: string[],
): Omit<CompareResult, 'missing' | 'extra'> {
  const match = namesMatch && counted.tables.length === 0 && differences.length === 0;
  return {
    status: match ? 'match' : 'mismatch',
    proof: 'checksums',
    tablesCompared: comparable.length,
    rowsCompared: counted.rowsCompared,
    tables: counted.tables.slice(0, 100),
    content: differences.slice(0, 100),
  };
}

/**
 * What a v4 manifest proves beside the stream: the tables with generated columns (scanned under the
 * manifest's scan algorithm, columns plan first), the large objects and the sequences.
 */
async function beyondStream(
  session: Session,
  recorded: NonNullable<Manifest['content']>,
  comparable: Manifest['tables'],
): Promise<string[]> {
  const differences: string[] = [];
  await session.query('BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY');
  try {
    await pinContentSettings(session, 'LOCAL');
    const scanAlgorithm = takeableAlgorithm(recorded.scanAlgorithm ?? '', Number.MAX_SAFE_INTEGER);
    const scanned = comparable.filter((t) => t.scanChecksum !== undefined);
    if (scanAlgorithm && scanned.length > 0) {
      const actual = new Map(
        (await tableContent(session, scanned, scanAlgorithm)).map((t) => [tableKey(t), t]),
      );
      for (const table of scanned) {
        const restored = actual.get(tableKey(table));
        const columns =
          table.columns && restored?.columns ? planDifferences(table.columns, restored.columns) : [];
        if (columns.length > 0) differences.push(`${qualified(table)}: ${columns.join(', ')}`);
        else if (restored?.checksum !== table.scanChecksum)
          differences.push(`${qualified(table)}: content differs (generated columns)`);
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
