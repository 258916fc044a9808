/**
 * SQL sessions (node-postgres) for what the pipeline asks the server itself: versions, identity,
 * snapshots and row counts. Connection failures become named errors without the connection string.
 * `negotiateTls` settles a connection's sslmode once per step (lib/pg/tls.ts has the policy).
 */
import { readFile } from 'node:fs/promises';
import pg from 'pg';
import {
  ConfigurationError,
  DatabaseAuthError,
  DatabaseCertificateError,
  DatabaseNotFoundError,
  DatabaseTlsRequiredError,
  DatabaseTlsUnavailableError,
  DatabaseUnreachableError,
  describeError,
} from '../errors.ts';
import { describeConnection, nodePgConfig, type PgConnection } from './connection.ts';
import { type NodePgSsl, nodePgSsl, tlsErrorOf, tlsPolicy } from './tls.ts';

export type Session = pg.Client;

// SQLSTATE classes: 28 = invalid authorization, 42501 = privilege; 3D000 = database does not exist.
const authFailureCodes = new Set(['28000', '28P01', '42501']);

export function classifyConnectionError(error: unknown, connection: PgConnection): Error {
  // Before the authorization codes: a hostssl-only server refuses a plain connection with 28000 too.
  const tls = tlsErrorOf(error, connection);
  if (tls) return tls;
  const code = (error as { code?: string })?.code;
  const where = describeConnection(connection);
  if (code === '3D000') {
    return new DatabaseNotFoundError(`${where}: ${describeError(error)}`, { cause: error });
  }
  if (code && authFailureCodes.has(code)) {
    return new DatabaseAuthError(`${where} refused the connection: ${describeError(error)}`, {
      cause: error,
    });
  }
  return new DatabaseUnreachableError(`could not connect to ${where}: ${describeError(error)}`, {
    cause: error,
  });
}

/** The content of sslrootcert when node-postgres needs it; `system` is Node's own CA list. */
async function readRootCertificate(connection: PgConnection): Promise<string | undefined> {
  const file = connection.sslrootcert;
  if (file === undefined || file === 'system' || connection.sslmode === 'disable') return undefined;
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    throw new ConfigurationError(
      `the sslrootcert of ${describeConnection(connection)} cannot be read: ${describeError(error)}`,
      { cause: error },
    );
  }
}

async function connect(connection: PgConnection, ssl: NodePgSsl): Promise<Session> {
  const client = new pg.Client(nodePgConfig(connection, ssl));
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

export async function openSession(connection: PgConnection): Promise<Session> {
  const { first, otherwise } = nodePgSsl(connection, await readRootCertificate(connection));
  try {
    return await connect(connection, first);
  } catch (error) {
    const refusedForTls =
      error instanceof DatabaseTlsRequiredError || error instanceof DatabaseTlsUnavailableError;
    if (otherwise === undefined || !refusedForTls) throw error;
    return connect(connection, otherwise);
  }
}

/** What negotiateTls reports when it settles for TLS without verification; secret-free. */
export interface TlsFallbackNotice {
  /** `user@host:port/database`. */
  connection: string;
  sslmode: 'require';
  /** The CA list the certificate did not verify against (a path), or Node's own. */
  caFile: string | null;
  /** Why the certificate did not verify (Node's message, e.g. a self-signed certificate in the chain). */
  reason: string;
}

/**
 * The connection with the sslmode this step's clients use, node-postgres and the PostgreSQL programs
 * alike (lib/pg/tls.ts `tlsPolicy`). Only a connection string without sslmode to a non-local host costs
 * a probe connection: verify-full with `caFile`, and require if, and only if, the certificate does not
 * verify. Any other failure of the probe (unreachable, a wrong password, no TLS at all) keeps
 * verify-full: the step's own connection then fails by that failure's name.
 */
export async function negotiateTls(
  connection: PgConnection,
  options: { caFile?: string | undefined; onFallback?: (notice: TlsFallbackNotice) => void } = {},
): Promise<PgConnection> {
  const { preferred, fallback } = tlsPolicy(connection, options.caFile);
  if (!fallback) return preferred;
  try {
    const probe = await openSession(preferred);
    await probe.end().catch(() => undefined);
    return preferred;
  } catch (error) {
    if (!(error instanceof DatabaseCertificateError)) return preferred;
    options.onFallback?.({
      connection: describeConnection(connection),
      sslmode: 'require',
      caFile: preferred.sslrootcert ?? null,
      reason: describeError(error.cause),
    });
    return fallback;
  }
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

declare const quotedSql: unique symbol;
/**
 * SQL text that a builder composed only from quoted identifiers and constants (lib/pg/row-hash.ts),
 * so it may be pasted into a statement. The SQL check (test/unit/lib/sql-identifiers.test.ts) accepts
 * it, and allows the cast to it only in the builders it lists.
 */
export type QuotedSql = string & { readonly [quotedSql]: true };

/** Quotes an identifier for SQL, the way PostgreSQL's quote_ident does for any name. */
export function quoteIdentifier(name: string): string {
  if (name.includes('\u0000')) throw new Error('identifier contains a NUL character');
  return `"${name.replaceAll('"', '""')}"`;
}

/** A comma-separated list of quoted identifiers (a column list). */
export function quoteIdentifiers(names: readonly string[]): string {
  return names.map(quoteIdentifier).join(', ');
}

export interface InstalledExtension {
  name: string;
  version: string;
  schema: string;
}

/** What a restore target must offer: every extension the database has, with its schema and version. */
export async function installedExtensions(session: Session): Promise<InstalledExtension[]> {
  const { rows } = await session.query<InstalledExtension>(
    `SELECT e.extname AS name, e.extversion AS version, n.nspname AS schema
       FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
      ORDER BY e.extname`,
  );
  return rows;
}
