/**
 * The drill database: created fresh on the staging server for one drill, opted in as a restore target
 * (the same guard as staging then applies), and dropped afterwards, on success and on failure. Names
 * are checked against the drill pattern before any statement, so a drill can only ever drop a database
 * it created itself.
 */
import { InputValidationError } from '../errors.ts';
import { type PgConnection, withDatabase } from '../pg/connection.ts';
import { quoteIdentifier, withSession } from '../pg/session.ts';
import { restoreTargetSetting, restoreTargetValue } from '../verify/restore-target-guard.ts';
import { drillDatabase } from './input.ts';

function checkedName(name: string): string {
  if (!drillDatabase.safeParse(name).success) {
    throw new InputValidationError(`drillDatabase "${name.slice(0, 80)}" is not a drill database name`, {
      details: { field: 'drillDatabase' },
    });
  }
  return name;
}

/** Creates (or, on a retry, keeps) the drill database and opts it in. `staging` is any database there. */
export async function createDrillDatabase(
  staging: PgConnection,
  name: string,
): Promise<{ drillDatabase: string; created: boolean; serverVersion: string }> {
  const database = quoteIdentifier(checkedName(name));
  return withSession(staging, async (session) => {
    const { rowCount } = await session.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (!rowCount) await session.query(`CREATE DATABASE ${database}`);
    await session.query(`ALTER DATABASE ${database} SET ${restoreTargetSetting} = '${restoreTargetValue}'`);
    const { rows } = await session.query<{ version: string }>(
      `SELECT current_setting('server_version') AS version`,
    );
    return { drillDatabase: name, created: !rowCount, serverVersion: rows[0]?.version ?? 'unknown' };
  });
}

/** Drops the drill database, disconnecting anything still attached. Dropping nothing is fine. */
export async function dropDrillDatabase(
  staging: PgConnection,
  name: string,
): Promise<{ drillDatabase: string; dropped: boolean }> {
  const database = quoteIdentifier(checkedName(name));
  // Connected to the drill database itself, DROP would refuse: use the staging connection's database.
  const admin = staging.database === name ? withDatabase(staging, 'postgres') : staging;
  return withSession(admin, async (session) => {
    const { rowCount } = await session.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (rowCount) await session.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    return { drillDatabase: name, dropped: Boolean(rowCount) };
  });
}
