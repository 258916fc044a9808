/**
 * Who holds the table locks a dump waits for: the sessions holding ACCESS EXCLUSIVE locks on tables of
 * the current database, and those waiting for one (PostgreSQL queues a later ACCESS SHARE request, such
 * as pg_dump's, behind a waiting ACCESS EXCLUSIVE one). Said in an alert so the operator can act at once. Only what identifies the
 * session is read (pid, application, state, how long its transaction is open), never its query text:
 * that may carry data or a secret (`ALTER ROLE ... PASSWORD`).
 */
import { describeError } from '../errors.ts';
import type { Session } from './session.ts';

export interface LockHolder {
  table: string;
  pid: number;
  application: string | null;
  state: string | null;
  transactionSeconds: number | null;
  /** False for a session still waiting for its ACCESS EXCLUSIVE lock, queued ahead of the dump. */
  granted: boolean;
}

const lockHoldersSql = `
  SELECT format('%I.%I', n.nspname, c.relname) AS table, l.pid, a.application_name AS application,
         a.state, floor(extract(epoch FROM clock_timestamp() - a.xact_start))::int AS "transactionSeconds",
         l.granted
    FROM pg_locks l
    JOIN pg_class c ON c.oid = l.relation
    JOIN pg_namespace n ON n.oid = c.relnamespace
    LEFT JOIN pg_stat_activity a ON a.pid = l.pid
   WHERE l.locktype = 'relation' AND l.mode = 'AccessExclusiveLock'
     AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
     AND l.pid <> pg_backend_pid()
   ORDER BY l.granted DESC, 1, 2
   LIMIT 10`;

export async function findLockHolders(session: Session): Promise<LockHolder[]> {
  const { rows } = await session.query<LockHolder>(lockHoldersSql);
  return rows;
}

/** One sentence for an error message; never throws (a failed lookup is said, not raised). */
export async function describeLockHolders(session: Session): Promise<string> {
  try {
    const holders = await findLockHolders(session);
    if (holders.length === 0) return 'no session holds an ACCESS EXCLUSIVE table lock any more';
    return holders
      .map((h) => {
        const facts = [
          h.application ? `application '${h.application}'` : undefined,
          h.state ?? undefined,
          h.transactionSeconds === null ? undefined : `transaction open ${h.transactionSeconds} s`,
        ].filter(Boolean);
        const who = `pid ${h.pid}${facts.length ? ` (${facts.join(', ')})` : ''}`;
        return h.granted
          ? `${h.table} is locked (ACCESS EXCLUSIVE) by ${who}`
          : `${h.table} is awaited (ACCESS EXCLUSIVE) by ${who}, queued ahead of the dump`;
      })
      .join('; ');
  } catch (error) {
    return `the lock holders could not be read: ${describeError(error)}`;
  }
}
