/**
 * Never restore over production. Before a restore sends a single statement, the target must
 * (1) be shown not to be the server the backup came from, by what the servers say, never by how a URL
 *     spells them (`localhost`, `127.0.0.1` and any other name can all reach one server):
 *     - the same system_identifier on both (pg_control_system(), when readable) means the same server;
 *     - production, asked live, sees the target's session in its pg_stat_activity (a random
 *       application_name set on the target, looked up with the target's backend pid): the same server;
 *       it sees its own session but not the target's: a different one. Any role may read both columns;
 *     - two readable, different system identifiers: a different server;
 *     - the two hosts resolve to a shared address (or the same socket directory) with the same port: the
 *       same server.
 *     Anything else is unknown, and unknown refuses, naming what could not be read and the override
 *     (`--target-not-production`), which never overrides evidence of the same server; and
 * (2) have opted in, with something its owner can do without superuser (managed providers give none):
 *       COMMENT ON DATABASE <staging_db> IS 'verified-pg-backups:restore-target';
 *     The comment must be the marker, or one of its lines must be (a comment that merely mentions it,
 *     "This is NOT a verified-pg-backups:restore-target", opts nothing in). Only the database's owner (or
 *     a superuser) may comment on it; a database comment survives every restore (pg_dump writes it only
 *     with --create, which no restore here uses), and production must never carry it: the Dump step
 *     refuses to run while it does (`assertProductionNotOptedIn`). The first design's
 *     `ALTER DATABASE ... SET verified_pg_backups.restore_target` needs superuser on PostgreSQL 15+
 *     ("permission denied to set parameter"); it is still honoured where a superuser set it.
 *
 * A scratch server (lib/verify/scratch-server.ts) needs neither: it is a server this run created.
 */
import { randomBytes } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import { resolve } from 'node:path';
import { describeError, ProductionOptedInError, ProductionTargetError } from '../errors.ts';
import { describeConnection, type PgConnection } from '../pg/connection.ts';
import {
  openSession,
  quoteIdentifier,
  readServerIdentity,
  type ServerIdentity,
  type Session,
} from '../pg/session.ts';

export const restoreTargetSetting = 'verified_pg_backups.restore_target';
export const restoreTargetValue = 'allowed';
/** The database comment that opts a database in: the whole comment, or one whole line of it. */
export const restoreTargetComment = 'verified-pg-backups:restore-target';
/** The CLI flag that accepts a target the servers could not tell apart from production. */
export const targetNotProductionFlag = '--target-not-production';

/** The statement a database's owner runs to opt it in as a restore target. */
export function optInStatement(database: string): string {
  return `COMMENT ON DATABASE ${quoteIdentifier(database)} IS '${restoreTargetComment}'`;
}

/** The statement that removes the opt-in again (the runbook's switch-over runs it on the new production). */
export function optOutStatement(database: string): string {
  return `COMMENT ON DATABASE ${quoteIdentifier(database)} IS NULL`;
}

/** True when the comment is the marker or has it as one whole line; never for a mere mention. */
export function commentOptsIn(comment: string | null | undefined): boolean {
  return (comment ?? '').split(/\r?\n/).some((line) => line.trim() === restoreTargetComment);
}

export interface ProductionIdentity {
  host: string;
  port: number;
  database: string;
  systemIdentifier: string | null;
}

export interface RestoreGuardOptions {
  /** Production as configured here, asked live whether the target is one of its sessions' server. */
  production?: (() => Promise<PgConnection>) | undefined;
  /** The operator's word that the target is not production; used only when the servers cannot tell. */
  targetNotProduction?: boolean | undefined;
  /** A host's addresses (node:dns by default; tests give aliases of their own). */
  resolveHost?: ((host: string) => Promise<string[]>) | undefined;
}

type SameServer = { same: boolean; reason: string; evidence: string } | { same: undefined; reason: string };

async function resolveAll(host: string): Promise<string[]> {
  const found = await lookup(host, { all: true, verbatim: true });
  return found.map((entry) => entry.address);
}

/** Asks production whether it sees the target's session: the one answer no alias can fool. */
async function askProduction(session: Session, production: () => Promise<PgConnection>): Promise<SameServer> {
  const token = `verified-pg-backups-guard-${randomBytes(8).toString('hex')}`;
  const { rows } = await session.query<{ pid: number }>(
    "SELECT pg_backend_pid() AS pid, set_config('application_name', $1, false)",
    [token],
  );
  const pid = rows[0]?.pid;
  let productionSession: Session;
  try {
    productionSession = await openSession(await production());
  } catch (error) {
    return { same: undefined, reason: `production could not be asked (${describeError(error)})` };
  }
  try {
    const seen = await productionSession.query<{ sees_itself: boolean | null; sees_target: boolean | null }>(
      `SELECT bool_or(pid = pg_backend_pid()) AS sees_itself,
              bool_or(pid = $1 AND application_name = $2) AS sees_target
         FROM pg_catalog.pg_stat_activity`,
      [pid, token],
    );
    const row = seen.rows[0];
    if (row?.sees_target) {
      return { same: true, reason: 'production sees the target session among its own', evidence: 'live' };
    }
    if (row?.sees_itself) {
      return { same: false, reason: 'production does not see the target session', evidence: 'live' };
    }
    return { same: undefined, reason: 'production does not show its sessions to this role' };
  } catch (error) {
    return { same: undefined, reason: `production could not be asked (${describeError(error)})` };
  } finally {
    await productionSession.end().catch(() => undefined);
  }
}

async function sameAddress(
  target: PgConnection,
  production: ProductionIdentity,
  resolveHost: (host: string) => Promise<string[]>,
): Promise<boolean> {
  if (target.port !== production.port) return false;
  const socket = (host: string) => host.startsWith('/');
  if (socket(target.host) || socket(production.host)) {
    return (
      socket(target.host) && socket(production.host) && resolve(target.host) === resolve(production.host)
    );
  }
  const [ours, theirs] = await Promise.all(
    [target.host, production.host].map((host) => resolveHost(host).catch(() => [host.toLowerCase()])),
  );
  return (ours ?? []).some((address) => (theirs ?? []).includes(address));
}

/**
 * Is the target the production server? From what the servers say; undefined `same` when they cannot
 * tell (then the reason says what could not be read).
 */
export async function decideSameServer(
  session: Session,
  target: PgConnection,
  identity: ServerIdentity,
  production: ProductionIdentity,
  options: RestoreGuardOptions = {},
): Promise<SameServer> {
  const bothIdentifiers = production.systemIdentifier !== null && identity.systemIdentifier !== null;
  if (bothIdentifiers && production.systemIdentifier === identity.systemIdentifier) {
    return {
      same: true,
      reason: `same system_identifier ${identity.systemIdentifier}`,
      evidence: 'system-identifier',
    };
  }
  const live = options.production
    ? await askProduction(session, options.production)
    : { same: undefined, reason: 'production is not configured here, so it could not be asked' };
  if (live.same !== undefined) return live;
  if (bothIdentifiers) {
    return { same: false, reason: 'different system identifiers', evidence: 'system-identifier' };
  }
  if (await sameAddress(target, production, options.resolveHost ?? resolveAll)) {
    return { same: true, reason: 'same address and port as production', evidence: 'address' };
  }
  const unreadable = [
    production.systemIdentifier === null ? "production's" : undefined,
    identity.systemIdentifier === null ? "the target's" : undefined,
  ].filter((side) => side !== undefined);
  return {
    same: undefined,
    reason: `${unreadable.join(' and ')} system_identifier could not be read (pg_control_system() not granted) and ${live.reason}`,
  };
}

export async function assertSafeRestoreTarget(
  session: Session,
  target: PgConnection,
  production: ProductionIdentity,
  options: RestoreGuardOptions = {},
): Promise<ServerIdentity> {
  const identity = await readServerIdentity(session);
  const where = describeConnection(target);
  const verdict = await decideSameServer(session, target, identity, production, options);
  if (verdict.same === true) {
    throw new ProductionTargetError(
      `refusing to restore into ${where}: it is the production server (${verdict.reason})`,
      { details: { reason: 'same-server', evidence: verdict.evidence } },
    );
  }
  if (verdict.same === undefined && !options.targetNotProduction) {
    throw new ProductionTargetError(
      `refusing to restore into ${where}: cannot tell whether it is the production server: ${verdict.reason}. ` +
        `Grant pg_control_system() to the roles on both sides, run where production is reachable, or, if you ` +
        `know the target is another server, pass ${targetNotProductionFlag}`,
      { details: { reason: 'identity-unknown' } },
    );
  }
  const { rows } = await session.query<{ setting: string | null; comment: string | null }>(
    `SELECT current_setting($1, true) AS setting,
            shobj_description(d.oid, 'pg_database') AS comment
       FROM pg_catalog.pg_database d WHERE d.datname = current_database()`,
    [restoreTargetSetting],
  );
  const optedIn = rows[0]?.setting === restoreTargetValue || commentOptsIn(rows[0]?.comment);
  if (!optedIn) {
    throw new ProductionTargetError(
      `refusing to restore into ${where}: it has not opted in. Its owner must run: ${optInStatement(identity.database)}`,
      { details: { reason: 'not-opted-in' } },
    );
  }
  return identity;
}

/**
 * Production must never carry the opt-in: a database that says "restore over me" and is the one being
 * backed up is one alias away from being overwritten. The Dump step calls this before it dumps.
 */
export async function assertProductionNotOptedIn(session: Session): Promise<void> {
  const { rows } = await session.query<{ database: string; comment: string | null; setting: string | null }>(
    `SELECT current_database() AS database,
            shobj_description(d.oid, 'pg_database') AS comment,
            current_setting($1, true) AS setting
       FROM pg_catalog.pg_database d WHERE d.datname = current_database()`,
    [restoreTargetSetting],
  );
  const row = rows[0];
  if (!row) return;
  if (commentOptsIn(row.comment)) {
    throw new ProductionOptedInError(
      `production database ${row.database} is opted in as a restore target: any restore that reaches it ` +
        `may overwrite it. Its owner must run: ${optOutStatement(row.database)}`,
    );
  }
  if (row.setting === restoreTargetValue) {
    throw new ProductionOptedInError(
      `production database ${quoteIdentifier(row.database)} is opted in as a restore target (${restoreTargetSetting}). ` +
        `A superuser must run: ALTER DATABASE ${quoteIdentifier(row.database)} RESET ${restoreTargetSetting}`,
    );
  }
}
