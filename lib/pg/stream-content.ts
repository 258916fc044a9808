/**
 * Content checksums from the dump stream itself (`copy-text-murmur3-sum64-v4`): production is read
 * once, by pg_dump, and the rows are hashed as they flow to the store (lib/pg/archive-stream.ts reads
 * the archive, lib/pg/copy-row-hash.ts hashes each COPY row). The restored side is copied out of the
 * scratch database with pg_dump's own COPY statement and session settings and hashed the same way
 * (`digestRestoredTables`), so both sides hash the text PostgreSQL's output functions wrote under the
 * same settings (recorded in the manifest: the time zone, bytea and money formats and the client
 * encoding pg_dump used on production).
 *
 * What the COPY text cannot show is checked apart, by a scan: generated columns (pg_dump does not write
 * them; the restore computes them again), large objects and sequences (lib/pg/content.ts).
 */
import type { Readable } from 'node:stream';
import { ArchiveUnreadableError } from '../errors.ts';
import { type ArchiveHeader, readCustomArchive } from './archive-stream.ts';
import type { PgConnection } from './connection.ts';
import {
  type ContentAlgorithm,
  type LargeObjectContent,
  largeObjectContent,
  pinContentSettings,
  type TableContent,
  tableContent,
} from './content.ts';
import { digestCopyOut } from './copy-out-digest.ts';
import { CopyRowDigest } from './copy-row-hash.ts';
import { listTables } from './row-counts.ts';
import { quoteIdentifier, quoteIdentifiers, quoteLiteral, type Session, withSession } from './session.ts';
import {
  readTablesApart,
  readTablesInSnapshot,
  type SnapshotSharing,
  tableSizes,
} from './snapshot-sessions.ts';
import { dumpedRelationsFilter, type TableName, tableKey } from './tables.ts';

export const streamContentAlgorithm = 'copy-text-murmur3-sum64-v4';

export interface StreamTableDigest extends TableName {
  rows: number;
  checksum: string;
}

/** A table's digest from the archive, with the columns of pg_dump's COPY (undefined: unparsable). */
export interface ArchiveTableDigest extends StreamTableDigest {
  copyColumns: string[] | undefined;
}

/**
 * The session settings that shape COPY text and that pg_dump leaves as the database and role set them
 * (it pins DateStyle, IntervalStyle, extra_float_digits and search_path itself): read on production
 * in the dump's session's defaults, and given to the scratch side's pg_dump.
 */
export const copyTextSettings = ['TimeZone', 'bytea_output', 'lc_monetary'] as const;
export type CopyTextSettings = Record<(typeof copyTextSettings)[number], string>;

export async function readCopyTextSettings(session: Session): Promise<CopyTextSettings> {
  const { rows } = await session.query<{ name: string; value: string }>(
    'SELECT name, current_setting(name) AS value FROM unnest($1::text[]) AS name',
    [copyTextSettings],
  );
  const value = (name: string) => rows.find((row) => row.name === name)?.value ?? '';
  return {
    TimeZone: value('TimeZone'),
    bytea_output: value('bytea_output'),
    lc_monetary: value('lc_monetary'),
  };
}

/**
 * Reads the archive on `source` to its end and returns the digest of every table with a TABLE DATA
 * block, or of those in `tables` only (data of others is read and passed over). A table without a
 * block is absent from the result: the caller names it.
 */
export async function digestArchive(
  source: AsyncIterable<Buffer> | Readable,
  tables?: readonly TableName[],
): Promise<{ header: ArchiveHeader; tables: Map<string, ArchiveTableDigest> }> {
  const wanted = tables ? new Set(tables.map(tableKey)) : undefined;
  const digests = new Map<string, ArchiveTableDigest>();
  let current: { key: string; digest: CopyRowDigest; name: TableName; copyStmt: string } | undefined;
  const header = await readCustomArchive(source, {
    startTableData(entry) {
      const name = { schema: entry.namespace, table: entry.tag };
      const key = tableKey(name);
      if (wanted && !wanted.has(key)) return false;
      if (digests.has(key)) throw new ArchiveUnreadableError(`the archive holds two data blocks for ${key}`);
      current = { key, digest: new CopyRowDigest(true), name, copyStmt: entry.copyStmt };
      return true;
    },
    tableText(chunk) {
      current?.digest.update(chunk);
    },
    endTableData() {
      if (!current) return;
      const { rows, checksum, complete } = current.digest.finish();
      if (!complete)
        throw new ArchiveUnreadableError(
          `the data of ${current.key} does not end as pg_dump ends a table's data (a row cut, or no end-of-data line)`,
        );
      digests.set(current.key, {
        ...current.name,
        rows,
        checksum,
        copyColumns: parseCopyColumns(current.copyStmt),
      });
      current = undefined;
    },
  });
  return { header, tables: digests };
}

/**
 * The columns of pg_dump's COPY statement for a table (`COPY s.t (a, "B c") FROM stdin;`), in the order
 * pg_dump wrote them: production's order, which a restore may change (an inheritance child whose parent
 * gained a column). Empty for a table without columns; undefined when the statement is not one pg_dump
 * writes (the caller then cannot prove that table from the stream).
 */
export function parseCopyColumns(copyStmt: string): string[] | undefined {
  let at = 0;
  const text = copyStmt.trimEnd();
  const skip = (literal: string) => {
    if (!text.startsWith(literal, at)) return false;
    at += literal.length;
    return true;
  };
  const identifier = (): string | undefined => {
    if (text[at] === '"') {
      let name = '';
      at++;
      for (;;) {
        const close = text.indexOf('"', at);
        if (close < 0) return undefined;
        name += text.slice(at, close);
        at = close + 1;
        if (text[at] !== '"') return name;
        name += '"';
        at++;
      }
    }
    const bare = /^[^\s.(),"]+/.exec(text.slice(at))?.[0];
    if (!bare) return undefined;
    at += bare.length;
    return bare;
  };
  if (!skip('COPY ')) return undefined;
  if (identifier() === undefined || !skip('.') || identifier() === undefined) return undefined;
  const columns: string[] = [];
  if (skip(' (')) {
    for (;;) {
      const column = identifier();
      if (column === undefined) return undefined;
      columns.push(column);
      if (skip(')')) break;
      if (!skip(', ')) return undefined;
    }
    if (!skip(' FROM stdin;')) return undefined;
  } else if (!skip('  FROM stdin;')) return undefined;
  return at === text.length ? columns : undefined;
}

/** A table of a v4 manifest: its name and pg_dump's COPY columns with their types, in pg_dump's order. */
export interface CopyTable extends TableName {
  copyColumns: readonly (readonly [name: string, type: string])[];
}

/** The columns COPY writes (not generated, not dropped) of every table, with their types, by table key. */
export async function copiedColumnTypes(session: Session): Promise<Map<string, Map<string, string>>> {
  const { rows } = await session.query<{ schema: string; table: string; column: string; type: string }>(
    `SELECT n.nspname AS schema, c.relname AS table, a.attname AS column,
            pg_catalog.format_type(a.atttypid, a.atttypmod) AS type
       FROM pg_catalog.pg_attribute a
       JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
       JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
        AND ${dumpedRelationsFilter}`,
  );
  const tables = new Map<string, Map<string, string>>();
  for (const row of rows) {
    const key = tableKey(row);
    const columns = tables.get(key) ?? new Map<string, string>();
    columns.set(row.column, row.type);
    tables.set(key, columns);
  }
  return tables;
}

/** How a restored table's copied columns differ from the backup's (names only), at most `limit`. */
function columnDifferences(
  recorded: CopyTable['copyColumns'],
  restored: Map<string, string> | undefined,
  limit = 5,
): string[] {
  const now = restored ?? new Map<string, string>();
  const names = new Set(recorded.map(([name]) => name));
  const differences: string[] = [];
  for (const [name, type] of recorded) {
    const restoredType = now.get(name);
    if (restoredType === undefined) differences.push(`column ${quoteIdentifier(name)} missing`);
    else if (restoredType !== type) differences.push(`column ${quoteIdentifier(name)} is of another type`);
  }
  for (const name of now.keys()) {
    if (!names.has(name)) differences.push(`column ${quoteIdentifier(name)} not in the backup`);
  }
  if (differences.length <= limit) return differences;
  const more = differences.length - limit;
  return [...differences.slice(0, limit), `and ${more} more column${more === 1 ? '' : 's'}`];
}

export interface RestoredDigests {
  digests: Map<string, StreamTableDigest>;
  /** Tables whose copied columns differ from the backup's (not copied): what differs, by table key. */
  columns: Map<string, string[]>;
}

/**
 * The digests of the restored copy, on `session` (the scratch database, as its superuser): every table
 * copied out exactly as pg_dump copied it out of production (`COPY t (columns) TO STDOUT`, same column
 * order, pg_dump's session settings and production's recorded ones, the archive's client encoding),
 * in one REPEATABLE READ snapshot, and hashed the same way. With `sharing`, the tables are copied on
 * that many sessions at once, all in the snapshot of `session`. A table whose columns differ from the
 * backup's (missing, added, of another type) is named instead of copied.
 */
export async function digestRestoredTables(
  session: Session,
  tables: readonly CopyTable[],
  settings: CopyTextSettings & { client_encoding: string },
  sharing?: SnapshotSharing,
): Promise<RestoredDigests> {
  await session.query('BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY');
  try {
    const { copyable, columns } = copyableTables(tables, await copiedColumnTypes(session));
    const pin = (s: Session) => pinCopySettings(s, settings, true);
    await pin(session);
    const digested = await readTablesInSnapshot(session, copyable, sharing, pin, copyEach);
    return { digests: new Map(digested.map((d) => [tableKey(d), d])), columns };
  } finally {
    await session.query('ROLLBACK').catch(() => undefined);
  }
}

/**
 * The digests of a restored copy whose rows no longer change (pg_restore's data section is in; its
 * post-data section, indexes and constraints, may be running): as `digestRestoredTables`, but each
 * table copied by a statement of its own on up to `jobs` fresh sessions of `connection`
 * (`readTablesApart`), so that the restore's ALTER TABLE waits for one copy at most and nothing waits
 * for it in turn.
 */
export async function digestSettledTables(
  connection: PgConnection,
  tables: readonly CopyTable[],
  settings: CopyTextSettings & { client_encoding: string },
  jobs: number,
): Promise<RestoredDigests> {
  const { restored, sizes } = await withSession(connection, async (session) => ({
    restored: await copiedColumnTypes(session),
    sizes: await tableSizes(session),
  }));
  const { copyable, columns } = copyableTables(tables, restored);
  const sized = copyable.map((t) => ({ ...t, bytes: sizes.get(tableKey(t)) ?? 0 }));
  const digested = await readTablesApart(
    connection,
    sized,
    jobs,
    (s) => pinCopySettings(s, settings, false),
    copyEach,
  );
  return { digests: new Map(digested.map((d) => [tableKey(d), d])), columns };
}

/** The tables whose copied columns match the restored ones, and how the others differ. */
function copyableTables(
  tables: readonly CopyTable[],
  restored: Map<string, Map<string, string>>,
): { copyable: CopyTable[]; columns: Map<string, string[]> } {
  const copyable: CopyTable[] = [];
  const columns = new Map<string, string[]>();
  for (const table of tables) {
    const differences = columnDifferences(table.copyColumns, restored.get(tableKey(table)));
    if (differences.length > 0) columns.set(tableKey(table), differences);
    else copyable.push(table);
  }
  return { copyable, columns };
}

/** pg_dump's session settings and production's recorded ones, for this transaction or this session. */
async function pinCopySettings(
  session: Session,
  settings: CopyTextSettings & { client_encoding: string },
  local: boolean,
): Promise<void> {
  const pinned: Record<string, string> = {
    ...pgDumpSessionSettings,
    TimeZone: settings.TimeZone,
    bytea_output: settings.bytea_output,
    lc_monetary: settings.lc_monetary,
    client_encoding: settings.client_encoding,
  };
  for (const [name, value] of Object.entries(pinned)) {
    await session.query(
      `SELECT pg_catalog.set_config(${quoteLiteral(name)}, ${quoteLiteral(value)}, ${local ? 'true' : 'false'})`,
    );
  }
}

async function copyEach(session: Session, share: CopyTable[]): Promise<StreamTableDigest[]> {
  const digests: StreamTableDigest[] = [];
  for (const table of share) digests.push(await copyAndDigest(session, table));
  return digests;
}

/** One restored table copied out as pg_dump copied it, and hashed. */
async function copyAndDigest(session: Session, table: CopyTable): Promise<StreamTableDigest> {
  const list =
    table.copyColumns.length > 0 ? ` (${quoteIdentifiers(table.copyColumns.map(([name]) => name))})` : '';
  const { rows, checksum, complete } = await digestCopyOut(
    session,
    `COPY ${quoteIdentifier(table.schema)}.${quoteIdentifier(table.table)}${list} TO STDOUT`,
  );
  if (!complete)
    throw new ArchiveUnreadableError(`the copy of ${tableKey(table)} ended in the middle of a row`);
  return { schema: table.schema, table: table.table, rows, checksum };
}

/**
 * What pg_dump sets in its own session before it copies (src/bin/pg_dump/pg_dump.c, setup_connection),
 * where the setting shapes the text: the restored side copies under the same.
 */
const pgDumpSessionSettings: Readonly<Record<string, string>> = {
  DateStyle: 'ISO',
  IntervalStyle: 'postgres',
  extra_float_digits: '3',
  search_path: '',
  row_security: 'off',
};

/** The tables with a generated column, whose values pg_dump does not write: checked by a scan. */
export async function tablesWithGeneratedColumns(session: Session): Promise<TableName[]> {
  const { rows } = await session.query<TableName>(
    `SELECT DISTINCT n.nspname AS schema, c.relname AS table
       FROM pg_catalog.pg_attribute a
       JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
       JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated <> ''
        AND ${dumpedRelationsFilter}
      ORDER BY 1, 2`,
  );
  return rows;
}

/** What the dump's snapshot shows beside the stream: no scan of a table without a generated column. */
export interface BesideStream {
  /** Every table whose rows pg_dump writes (names: the stream gives their rows and checksums). */
  tables: TableName[];
  /** The tables with a generated column, scanned under `scanAlgorithm` (rows, checksum, column plan). */
  scanned: TableContent[];
  scanAlgorithm: ContentAlgorithm;
  largeObjects: LargeObjectContent;
  settings: CopyTextSettings;
  /** The types of the columns COPY writes, by table key: recorded so a restored type change is named. */
  columnTypes: Map<string, Map<string, string>>;
}

/**
 * In the dump's snapshot, on a session of the role pg_dump connects as (so its defaults are pg_dump's):
 * the COPY-text settings, the table list, the tables with generated columns checked by a scan, and the
 * large objects. Production reads only those tables and objects a second time.
 */
export async function measureBesideStream(
  session: Session,
  snapshotId: string,
  scanAlgorithm: ContentAlgorithm,
): Promise<BesideStream> {
  await session.query('BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY');
  try {
    await session.query(`SET TRANSACTION SNAPSHOT ${quoteLiteral(snapshotId)}`);
    const settings = await readCopyTextSettings(session);
    const tables = await listTables(session);
    const generated = await tablesWithGeneratedColumns(session);
    const columnTypes = await copiedColumnTypes(session);
    await pinContentSettings(session, 'LOCAL');
    return {
      tables,
      scanned: generated.length > 0 ? await tableContent(session, generated, scanAlgorithm) : [],
      scanAlgorithm,
      largeObjects: await largeObjectContent(session),
      settings,
      columnTypes,
    };
  } finally {
    await session.query('ROLLBACK').catch(() => undefined);
  }
}
