/**
 * Connection strings come from outside (Secrets Manager, env vars, CLI flags) and carry a password.
 * They are parsed once into a `PgConnection`; PostgreSQL programs get the parts as libpq environment
 * variables (never argv, which `ps` shows), and anything printed uses `describeConnection`.
 */
import { ConfigurationError, redactConnectionString } from '../errors.ts';

export interface PgConnection {
  host: string;
  port: number;
  user: string;
  password: string | undefined;
  database: string;
  /** libpq sslmode; undefined leaves libpq's default (`prefer`). */
  sslmode: string | undefined;
  sslrootcert: string | undefined;
}

const sslModes = new Set(['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full']);

/**
 * Parses `postgres://user:password@host:port/database?sslmode=...`. `label` names the setting in
 * errors (e.g. `DATABASE_URL`), never the value.
 */
export function parseConnectionUrl(url: string, label: string): PgConnection {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigurationError(`${label} is not a valid connection URL (expected postgres://user@host/db)`);
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
    throw new ConfigurationError(
      `${label} must start with postgres:// or postgresql://, not ${parsed.protocol}//`,
    );
  }
  if (!parsed.hostname) throw new ConfigurationError(`${label} has no host`);
  const database = decodeURIComponent(parsed.pathname.replace(/^\//, ''));
  if (!database) throw new ConfigurationError(`${label} has no database name (…/dbname)`);
  const port = parsed.port ? Number(parsed.port) : 5432;
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw new ConfigurationError(`${label} has an invalid port`);
  const user = decodeURIComponent(parsed.username);
  if (!user) throw new ConfigurationError(`${label} has no user name`);

  const known = new Set(['sslmode', 'sslrootcert']);
  for (const key of parsed.searchParams.keys()) {
    if (!known.has(key)) throw new ConfigurationError(`${label} has an unsupported parameter "${key}"`);
  }
  const sslmode = parsed.searchParams.get('sslmode') ?? undefined;
  if (sslmode !== undefined && !sslModes.has(sslmode)) {
    throw new ConfigurationError(`${label} has an unknown sslmode "${sslmode}"`);
  }
  return {
    host: parsed.hostname.replace(/^\[|\]$/g, ''),
    port,
    user,
    password: parsed.password ? decodeURIComponent(parsed.password) : undefined,
    database,
    sslmode,
    sslrootcert: parsed.searchParams.get('sslrootcert') ?? undefined,
  };
}

/** The same connection pointed at another database on the same server. */
export function withDatabase(connection: PgConnection, database: string): PgConnection {
  return { ...connection, database };
}

/** libpq environment for PostgreSQL programs: the password travels here, not on the command line. */
/**
 * Startup options of every connection we open, from node-postgres and from the PostgreSQL programs
 * alike. A startup option wins over ALTER ROLE/DATABASE defaults, so a role's statement_timeout cannot
 * cut short our identity, snapshot and count queries, nor the queries pg_dump runs before it sets its
 * own statement_timeout; a SET LOCAL (drill checks) still applies. row_security=off, as pg_dump and
 * pg_restore set it: a policy that would hide rows from our role raises an error instead of silently
 * shrinking a count (a manifest that undercounts would "verify" a partial dump).
 */
export const sessionStartupOptions = '-c statement_timeout=0 -c row_security=off';

export function libpqEnvironment(connection: PgConnection): Record<string, string> {
  const env: Record<string, string> = {
    PGHOST: connection.host,
    PGPORT: String(connection.port),
    PGUSER: connection.user,
    PGDATABASE: connection.database,
    PGAPPNAME: 'verified-pg-backups',
    PGCONNECT_TIMEOUT: '15',
    PGOPTIONS: sessionStartupOptions,
  };
  if (connection.password !== undefined) env.PGPASSWORD = connection.password;
  if (connection.sslmode !== undefined) env.PGSSLMODE = connection.sslmode;
  if (connection.sslrootcert !== undefined) env.PGSSLROOTCERT = connection.sslrootcert;
  return env;
}

/** Options for node-postgres (`pg`). */
export function nodePgConfig(connection: PgConnection) {
  const ssl =
    connection.sslmode === undefined || connection.sslmode === 'disable' || connection.sslmode === 'prefer'
      ? undefined
      : { rejectUnauthorized: connection.sslmode === 'verify-ca' || connection.sslmode === 'verify-full' };
  return {
    host: connection.host,
    port: connection.port,
    user: connection.user,
    password: connection.password,
    database: connection.database,
    application_name: 'verified-pg-backups',
    options: sessionStartupOptions,
    connectionTimeoutMillis: 15_000,
    ...(ssl ? { ssl } : {}),
  };
}

/** `user@host:port/database`: safe to print, log and store. */
export function describeConnection(connection: PgConnection): string {
  return redactConnectionString(
    `${connection.user}@${connection.host}:${connection.port}/${connection.database}`,
  );
}
