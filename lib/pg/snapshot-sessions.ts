/**
 * Reading many tables at once in one snapshot: the caller's session (inside its REPEATABLE READ
 * transaction) exports its snapshot, up to `jobs - 1` further sessions import it, and the tables are
 * dealt largest first to the least loaded session. Every session sees the same rows, so the result is
 * the one a single session would give, read on several cores.
 */
import type { PgConnection } from './connection.ts';
import { openSession, quoteLiteral, type Session } from './session.ts';
import { type TableName, tableKey } from './tables.ts';

export interface SnapshotSharing {
  /** Where further sessions connect (the same database as the caller's session). */
  connection: PgConnection;
  /** Sessions in all, the caller's included. */
  jobs: number;
}

/**
 * `work` on each session with its share of `tables`; `prepare` readies each further session inside its
 * transaction (the settings the caller's has). A session that cannot be opened (the server's
 * connection limit) leaves its share to the others. Without `sharing`, or for fewer than two tables,
 * `work` runs on the caller's session alone.
 */
export async function readTablesInSnapshot<T extends TableName, R>(
  session: Session,
  tables: readonly T[],
  sharing: SnapshotSharing | undefined,
  prepare: (helper: Session) => Promise<void>,
  work: (session: Session, share: T[]) => Promise<R[]>,
): Promise<R[]> {
  const wanted = Math.min(sharing?.jobs ?? 1, tables.length);
  if (!sharing || wanted < 2) return work(session, [...tables]);
  const bytes = await tableSizes(session);
  const { rows: exported } = await session.query<{ id: string }>(
    'SELECT pg_catalog.pg_export_snapshot() AS id',
  );
  const snapshot = exported[0]?.id ?? '';
  const helpers: Session[] = [];
  try {
    for (let i = 1; i < wanted; i++) {
      const helper = await openSession(sharing.connection).catch(() => undefined);
      if (!helper) break;
      helpers.push(helper);
      await helper.query('BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY');
      await helper.query(`SET TRANSACTION SNAPSHOT ${quoteLiteral(snapshot)}`);
      await prepare(helper);
    }
    const sessions = [session, ...helpers];
    const shares = dealLargestFirst(tables, sessions.length, (t) => bytes.get(tableKey(t)) ?? 0);
    const results = await Promise.all(
      sessions.map((s, i) => {
        const share = shares[i] ?? [];
        return share.length > 0 ? work(s, share) : [];
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

/** Every table's size on disk (pg_table_size: heap and TOAST), by table key. */
export async function tableSizes(session: Session): Promise<Map<string, number>> {
  const { rows } = await session.query<{ schema: string; table: string; bytes: string }>(
    `SELECT n.nspname AS schema, c.relname AS table, pg_catalog.pg_table_size(c.oid)::text AS bytes
       FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind = 'r'`,
  );
  return new Map(rows.map((row) => [tableKey(row), Number(row.bytes)]));
}

/**
 * `work` on up to `jobs` fresh sessions of `connection`, each given its share of `tables` (largest
 * first), with no shared snapshot and no transaction around the share: for tables whose rows nothing
 * changes any more (a restore's data section is in; what follows builds indexes and constraints). Each
 * statement of `work` is its own transaction and holds one table's lock only while it runs, so the
 * restore's ALTER TABLE waits for at most one statement, and never for a session that waits in turn.
 * `prepare` readies each session (settings at session level: the sessions are ours alone).
 */
export async function readTablesApart<T extends TableName, R>(
  connection: PgConnection,
  tables: readonly (T & { bytes: number })[],
  jobs: number,
  prepare: (session: Session) => Promise<void>,
  work: (session: Session, share: T[]) => Promise<R[]>,
): Promise<R[]> {
  const shares = dealLargestFirst(tables, Math.max(1, Math.min(jobs, tables.length)), (t) => t.bytes);
  const sessions: Session[] = [];
  try {
    for (const _ of shares) {
      const session = await openSession(connection).catch((error: unknown) => {
        // The first session is needed; a further one the server refuses leaves its share to the others.
        if (sessions.length === 0) throw error;
        return undefined;
      });
      if (!session) break;
      sessions.push(session);
      await prepare(session);
    }
    const regrouped =
      sessions.length === shares.length ? shares : dealLargestFirst(tables, sessions.length, (t) => t.bytes);
    const results = await Promise.all(
      sessions.map((s, i) => {
        const share = regrouped[i] ?? [];
        return share.length > 0 ? work(s, share) : [];
      }),
    );
    return results.flat();
  } finally {
    for (const session of sessions) await session.end().catch(() => undefined);
  }
}

/** `items` in `count` shares of about equal size: each, largest first, to the share with the least. */
export function dealLargestFirst<T>(items: readonly T[], count: number, size: (item: T) => number): T[][] {
  const shares = Array.from({ length: count }, () => ({ size: 0, items: [] as T[] }));
  for (const item of [...items].sort((a, b) => size(b) - size(a))) {
    const least = shares.reduce((min, share) => (share.size < min.size ? share : min));
    least.items.push(item);
    least.size += size(item);
  }
  return shares.map((share) => share.items);
}
