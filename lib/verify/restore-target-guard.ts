/**
 * Never restore over production. Before a restore sends a single statement, the target must
 * (1) not be the server the backup came from: a different system_identifier (when both are readable)
 *     and not the same host, port and database; and
 * (2) have opted in: the target database carries `verified_pg_backups.restore_target = 'allowed'`,
 *     set once by its owner with
 *       ALTER DATABASE <staging_db> SET verified_pg_backups.restore_target = 'allowed';
 *     A database-level setting survives every restore (pg_dump does not carry it without --create),
 *     cannot be set by accident, and production never has it.
 */
import { ProductionTargetError } from '../errors.ts';
import { describeConnection, type PgConnection } from '../pg/connection.ts';
import { quoteIdentifier, readServerIdentity, type ServerIdentity, type Session } from '../pg/session.ts';

export const restoreTargetSetting = 'verified_pg_backups.restore_target';
export const restoreTargetValue = 'allowed';

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
  const { rows } = await session.query<{ value: string | null }>(
    'SELECT current_setting($1, true) AS value',
    [restoreTargetSetting],
  );
  if (rows[0]?.value !== restoreTargetValue) {
    const optIn = `ALTER DATABASE ${quoteIdentifier(identity.database)} SET ${restoreTargetSetting} = '${restoreTargetValue}'`;
    throw new ProductionTargetError(
      `refusing to restore into ${where}: it has not opted in. Its owner must run: ${optIn}`,
      { details: { reason: 'not-opted-in' } },
    );
  }
  return identity;
}
