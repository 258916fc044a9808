/**
 * Connection strings come from outside (Secrets Manager, env vars, CLI flags) and carry a password.
 * They are parsed once into a `PgConnection`; PostgreSQL programs get the parts as libpq environment
 * variables (never argv, which `ps` shows), and anything printed uses `describeConnection`.
 */
import type { ConnectionOptions } from 'node:tls';
import { ConfigurationError, redactConnectionString } from '../errors.ts';

const sslModes = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'] as const;
export type SslMode = (typeof sslModes)[number];

export interface PgConnection {
  host: string;
  port: number;
  user: string;
  password: string | undefined;
  database: string;
  /**
   * libpq sslmode. Undefined only before the TLS policy ran (lib/pg/tls.ts `tlsPolicy`), or for a local
   * server: libpq then uses its default (`prefer`) and node-postgres no TLS.
   */
  sslmode: SslMode | undefined;
  /** CA certificates to verify the server with: a file, or `system` (libpq 16+). */
  sslrootcert: string | undefined;
}

function isSslMode(value: string): value is SslMode {
  return (sslModes as readonly string[]).includes(value);
}

/**
 * A percent-decoded part of the URL. A malformed escape (`%zz`, a lone `%`) is a configuration error
 * that names the part, never its value: the part may be the password.
 */
function decodePart(encoded: string, label: string, part: string): string {
  try {
    return decodeURIComponent(encoded);
  } catch {
    throw new ConfigurationError(
      `${label} has a malformed percent-escape in its ${part} (write a literal % as %25)`,
    );
  }
}

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
  const database = decodePart(parsed.pathname.replace(/^\//, ''), label, 'database name');
  if (!database) throw new ConfigurationError(`${label} has no database name (…/dbname)`);
  const port = parsed.port ? Number(parsed.port) : 5432;
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw new ConfigurationError(`${label} has an invalid port`);
  const user = decodePart(parsed.username, label, 'user name');
  if (!user) throw new ConfigurationError(`${label} has no user name`);

  const known = new Set(['sslmode', 'sslrootcert']);
  for (const key of parsed.searchParams.keys()) {
    if (!known.has(key)) throw new ConfigurationError(`${label} has an unsupported parameter "${key}"`);
  }
  const sslmode = parsed.searchParams.get('sslmode') ?? undefined;
  if (sslmode !== undefined && !isSslMode(sslmode)) {
    throw new ConfigurationError(`${label} has an unknown sslmode "${sslmode}"`);
  }
  return {
    host: parsed.hostname.replace(/^\[|\]$/g, ''),
    port,
    user,
    password: parsed.password ? decodePart(parsed.password, label, 'password') : undefined,
    database,
    sslmode,
    sslrootcert: parsed.searchParams.get('sslrootcert') ?? undefined,
  };
}

/** The same connection pointed at another database on the same server. */
export function withDatabase(connection: PgConnection, database: string): PgConnection {
  return { ...connection, database };
}

/**
 * Startup options of every connection we open, from node-postgres and from the PostgreSQL programs
 * alike. A startup option wins over ALTER ROLE/DATABASE defaults, so a role's statement_timeout cannot
 * cut short our identity, snapshot and count queries, nor the queries pg_dump runs before it sets its
 * own statement_timeout; a SET LOCAL (drill checks) still applies. row_security=off, as pg_dump and
 * pg_restore set it: a policy that would hide rows from our role raises an error instead of silently
 * shrinking a count (a manifest that undercounts would "verify" a partial dump).
 */
export const sessionStartupOptions = '-c statement_timeout=0 -c row_security=off';

/** libpq environment for PostgreSQL programs: the password travels here, not on the command line. */
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

/**
 * Options for node-postgres (`pg`). `ssl` is one attempt of the connection's sslmode, as
 * lib/pg/tls.ts `nodePgSsl` spells it: false, or the options pg hands to tls.connect.
 */
export function nodePgConfig(connection: PgConnection, ssl: false | ConnectionOptions = false) {
  return {
    host: connection.host,
    port: connection.port,
    user: connection.user,
    password: connection.password,
    database: connection.database,
    application_name: 'verified-pg-backups',
    options: sessionStartupOptions,
    connectionTimeoutMillis: 15_000,
    // Never undefined: node-postgres would then take its TLS from PGSSLMODE in our own environment.
    ssl,
  };
}

/** `user@host:port/database`: safe to print, log and store. */
export function describeConnection(connection: PgConnection): string {
  return redactConnectionString(
    `${connection.user}@${connection.host}:${connection.port}/${connection.database}`,
  );
}
