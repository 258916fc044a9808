/**
 * Never restore over production. Before a restore sends a single statement, the target must
 * (1) not be the server the backup came from: a different system_identifier (when both are readable)
 *     and not the same host, port and database; and
 * (2) have opted in, with something its owner can do without superuser (managed providers give none):
 *       COMMENT ON DATABASE <staging_db> IS 'verified-pg-backups:restore-target';
 *     Only the database's owner (or a superuser) may comment on it; a database comment survives every
 *     restore (pg_dump writes it only with --create, which no restore here uses), and production never
 *     carries it. The first design's `ALTER DATABASE ... SET verified_pg_backups.restore_target` needs
 *     superuser on PostgreSQL 15+ ("permission denied to set parameter"); it is still honoured where a
 *     superuser set it.
 *
 * A scratch server (lib/verify/scratch-server.ts) needs neither: it is a server this run created.
 */
import { ProductionTargetError } from '../errors.ts';
import { describeConnection, type PgConnection } from '../pg/connection.ts';
import { quoteIdentifier, readServerIdentity, type ServerIdentity, type Session } from '../pg/session.ts';

export const restoreTargetSetting = 'verified_pg_backups.restore_target';
export const restoreTargetValue = 'allowed';
/** The database comment that opts a database in (it may say more; this marker must be in it). */
export const restoreTargetComment = 'verified-pg-backups:restore-target';

/** The statement a database's owner runs to opt it in as a restore target. */
export function optInStatement(database: string): string {
  return `COMMENT ON DATABASE ${quoteIdentifier(database)} IS '${restoreTargetComment}'`;
}

export interface ProductionIdentity {
  host: string;
  port: number;
  database: string;
  systemIdentifier: string | null;
}

export async function assertSafeRestoreTarget(
  session: Session,
  target: PgConnection,
  production: ProductionIdentity,
): Promise<ServerIdentity> {
  const identity = await readServerIdentity(session);
  const where = describeConnection(target);
  if (
    production.systemIdentifier !== null &&
    identity.systemIdentifier !== null &&
    production.systemIdentifier === identity.systemIdentifier
  ) {
    throw new ProductionTargetError(
      `refusing to restore into ${where}: it is the production server (same system_identifier ${identity.systemIdentifier})`,
      { details: { reason: 'same-system-identifier' } },
    );
  }
  const sameHost =
    target.host.toLowerCase() === production.host.toLowerCase() && target.port === production.port;
  if (sameHost && identity.database === production.database) {
    throw new ProductionTargetError(
      `refusing to restore into ${where}: it is the production database (same host, port and database)`,
      { details: { reason: 'same-host-port-database' } },
    );
  }
  const { rows } = await session.query<{ setting: string | null; comment: string | null }>(
    `SELECT current_setting($1, true) AS setting,
            shobj_description(d.oid, 'pg_database') AS comment
       FROM pg_catalog.pg_database d WHERE d.datname = current_database()`,
    [restoreTargetSetting],
  );
  const optedIn =
    rows[0]?.setting === restoreTargetValue || (rows[0]?.comment ?? '').includes(restoreTargetComment);
  if (!optedIn) {
    throw new ProductionTargetError(
      `refusing to restore into ${where}: it has not opted in. Its owner must run: ${optInStatement(identity.database)}`,
      { details: { reason: 'not-opted-in' } },
    );
  }
  return identity;
}
