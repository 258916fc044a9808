/**
 * Several databases in one stage. The nightly run asks which databases to back up (`listDatabases`),
 * then backs each up in an execution of its own; every step of that execution works on one database:
 * its connection (the production URL with the database replaced) and its vault in the bucket
 * (lib/storage/scope.ts). The database the URL names keeps the bucket's top-level vault.
 */
import type { RuntimeSettings } from '../config.ts';
import { BackupNotFoundError } from '../errors.ts';
import type { PgConnection } from '../pg/connection.ts';
import type { Session } from '../pg/session.ts';
import type { BackupStore } from '../storage/backup-store.ts';
import { newestManifest } from './catalog.ts';

/** Which database a step works on: its name, and its vault (null: the URL's database, top level). */
export interface DatabaseTarget {
  database: string;
  scope: string | null;
}

/**
 * Databases that managed providers keep for themselves: never a user's data, and often not even
 * readable by the user's role. `postgres` is not among them: Supabase keeps its users' data there.
 */
export const providerDatabases = ['rdsadmin', 'cloudsqladmin', 'azure_maintenance', 'azure_sys', '_heroku'];

interface Scoped {
  store: BackupStore;
  productionConnection(): Promise<PgConnection>;
}

/** The database a run is for: the one named (the URL's own maps to the top-level vault), else the URL's. */
export function resolveDatabase(urlDatabase: string, requested: string | undefined): DatabaseTarget {
  const database = requested ?? urlDatabase;
  return { database, scope: database === urlDatabase ? null : database };
}

/** A runtime whose store and production connection are those of one database. */
export function forDatabase<R extends Scoped>(runtime: R, target: DatabaseTarget | undefined): R {
  if (!target) return runtime;
  return {
    ...runtime,
    store: runtime.store.forScope(target.scope ?? undefined),
    productionConnection: async () => ({
      ...(await runtime.productionConnection()),
      database: target.database,
    }),
  };
}

/**
 * What the nightly run backs up, sorted: the URL's database, the listed names, or (`all`) every
 * database that allows connections and that this role may connect to, minus the excluded ones and
 * the providers' own. A listed name that does not exist is kept: its own run fails by name
 * (DatabaseNotFoundError) while the others go on.
 */
export async function listDatabases(
  session: Session,
  urlDatabase: string,
  settings: Pick<RuntimeSettings, 'DATABASES' | 'EXCLUDE_DATABASES'>,
): Promise<DatabaseTarget[]> {
  const excluded = new Set(settings.EXCLUDE_DATABASES);
  let names: string[];
  if (settings.DATABASES === 'url') names = [urlDatabase];
  else if (settings.DATABASES === 'all') {
    const { rows } = await session.query<{ name: string }>(
      `SELECT datname AS name FROM pg_database
        WHERE datallowconn AND NOT datistemplate AND has_database_privilege(datname, 'CONNECT')
        ORDER BY datname`,
    );
    names = rows.map((row) => row.name).filter((name) => !providerDatabases.includes(name));
  } else names = settings.DATABASES;
  return names
    .filter((name) => !excluded.has(name))
    .sort()
    .map((name) => resolveDatabase(urlDatabase, name));
}

/**
 * The vault of one database, named by the operator (`backupctl --database`), found from the bucket
 * alone (no production secret needed): a vault of its own, or the top-level one when its newest
 * backup is of that database.
 */
export async function vaultOf(store: BackupStore, database: string): Promise<BackupStore> {
  const scopes = await store.databaseScopes();
  if (scopes.includes(database)) return store.forScope(database);
  const topLevel = (await newestManifest(store))?.source.database;
  if (topLevel === database) return store;
  const known = [...(topLevel ? [topLevel] : []), ...scopes];
  throw new BackupNotFoundError(
    `no backups of database "${database}" in this bucket${known.length ? `; it holds backups of ${known.join(', ')}` : ''}`,
  );
}
