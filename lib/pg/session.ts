/**
 * SQL sessions (node-postgres) for what the pipeline asks the server itself: versions, identity,
 * snapshots and row counts. Connection failures become named errors without the connection string.
 */
import pg from 'pg';
import { DatabaseAuthError, DatabaseUnreachableError, describeError } from '../errors.ts';
import { describeConnection, nodePgConfig, type PgConnection } from './connection.ts';

export type Session = pg.Client;

// SQLSTATE classes: 28 = invalid authorization, 3D000 = database does not exist, 42501 = privilege.
const authFailureCodes = new Set(['28000', '28P01', '3D000', '42501']);

export function classifyConnectionError(error: unknown, connection: PgConnection): Error {
  const code = (error as { code?: string })?.code;
  const where = describeConnection(connection);
  if (code && authFailureCodes.has(code)) {
    return new DatabaseAuthError(`${where} refused the connection: ${describeError(error)}`, {
      cause: error,
    });
  }
  return new DatabaseUnreachableError(`could not connect to ${where}: ${describeError(error)}`, {
    cause: error,
  });
}

export async function openSession(connection: PgConnection): Promise<Session> {
  const client = new pg.Client(nodePgConfig(connection));
  // An idle client whose server goes away emits 'error'; without a listener that kills the process.
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(() => undefined);
    throw classifyConnectionError(error, connection);
  }
  return client;
}

export async function withSession<T>(
  connection: PgConnection,
  work: (session: Session) => Promise<T>,
): Promise<T> {
  const session = await openSession(connection);
  try {
    return await work(session);
  } finally {
    await session.end().catch(() => undefined);
  }
}

export interface ServerIdentity {
  serverVersion: string;
  serverVersionNum: number;
  /** pg_control_system().system_identifier; null when the role may not read it (non-superuser). */
  systemIdentifier: string | null;
  database: string;
  databaseSizeBytes: number;
}

export async function readServerIdentity(session: Session): Promise<ServerIdentity> {
  const { rows } = await session.query<{
    server_version: string;
    server_version_num: string;
    database: string;
    size: string;
  }>(
    `SELECT current_setting('server_version') AS server_version,
            current_setting('server_version_num') AS server_version_num,
            current_database() AS database,
            pg_database_size(current_database())::text AS size`,
  );
  const row = rows[0];
  if (!row) throw new Error('server returned no identity row');
  let systemIdentifier: string | null = null;
  try {
    const result = await session.query<{ id: string }>(
      'SELECT system_identifier::text AS id FROM pg_control_system()',
    );
    systemIdentifier = result.rows[0]?.id ?? null;
  } catch {
    systemIdentifier = null;
  }
  return {
    serverVersion: row.server_version.split(' ')[0] ?? row.server_version,
    serverVersionNum: Number(row.server_version_num),
    systemIdentifier,
    database: row.database,
    databaseSizeBytes: Number(row.size),
  };
}

/**
 * Quotes a string literal for SQL, the way PostgreSQL's quote_literal does: right whatever
 * standard_conforming_strings says, because a backslash switches to the E'' form. For statements that
 * take no parameters (SET TRANSACTION SNAPSHOT); everywhere else, use `$n`.
 */
export function quoteLiteral(text: string): string {
  if (text.includes('\u0000')) throw new Error('literal contains a NUL character');
  const quoted = `'${text.replaceAll("'", "''").replaceAll('\\', '\\\\')}'`;
  return text.includes('\\') ? `E${quoted}` : quoted;
}

/** Quotes an identifier for SQL, the way PostgreSQL's quote_ident does for any name. */
export function quoteIdentifier(name: string): string {
  if (name.includes('\u0000')) throw new Error('identifier contains a NUL character');
  return `"${name.replaceAll('"', '""')}"`;
}
