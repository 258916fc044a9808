/**
 * The server's globals each night: roles, their memberships and settings, and tablespaces, as
 * `pg_dumpall --globals-only --no-role-passwords` writes them. That works for a database owner without
 * superuser (it reads pg_roles, not pg_authid); what the provider hides is recorded from pg_dumpall's
 * messages as skipped, never silently lost. The SQL goes to globals/<yyyy>/<mm>/<dd>/<id>.sql beside
 * the backups with a record of its SHA-256, size and role names; the record never holds the SQL's
 * content (role settings may carry values a user considers secret).
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { DumpFailedError, describeError } from '../errors.ts';
import type { PgConnection } from '../pg/connection.ts';
import type { PgPrograms } from '../pg/process.ts';
import { describeExit } from '../pg/process.ts';
import { openSession, readServerIdentity } from '../pg/session.ts';
import { libpqTlsError } from '../pg/tls.ts';
import type { BackupStore } from '../storage/backup-store.ts';
import { backupIdTime, isBackupId, newBackupId } from '../storage/keys.ts';

/** The record beside each night's globals SQL; read back from the store, it is checked against this. */
export const globalsRecordSchema = z.strictObject({
  globalsVersion: z.literal(1),
  id: z.string().refine(isBackupId, 'not a backup id'),
  createdAt: z.iso.datetime(),
  serverVersion: z.string(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  bytes: z.number().int().nonnegative(),
  /** The roles the SQL creates, by name. */
  roles: z.array(z.string()),
  /** pg_dumpall's messages about what it could not read (the provider's restrictions). */
  skipped: z.array(z.string()),
});

export type GlobalsRecord = z.infer<typeof globalsRecordSchema>;

/** Where the nights' globals are kept, at the top of the bucket, for every database of the server. */
export const globalsPrefix = 'globals/';

/** The id of a globals/ key (`globals/<yyyy>/<mm>/<dd>/<id>.sql` or `.json`), or undefined. */
export function globalsIdOf(key: string): string | undefined {
  const id = /^globals\/\d{4}\/\d{2}\/\d{2}\/([^/]+)\.(?:sql|json)$/.exec(key)?.[1];
  return id !== undefined && isBackupId(id) ? id : undefined;
}

/**
 * The night's globals of a backup made at `createdAt`, among `ids`: the newest taken at or before it,
 * else the oldest after it. The rule a restore with roles picks by (lib/verify/roles.ts, globalsFor),
 * so retention keeps exactly what a restore of a kept backup will ask for.
 */
export function nightGlobalsId(ids: readonly string[], createdAt: Date): string | undefined {
  const sorted = [...ids].sort();
  const at = createdAt.getTime();
  return (
    sorted.filter((id) => backupIdTime(id).getTime() <= at).at(-1) ??
    sorted.find((id) => backupIdTime(id).getTime() > at)
  );
}

export function globalsKeys(id: string): { sql: string; record: string } {
  const [year, month, day] = backupIdTime(id).toISOString().slice(0, 10).split('-');
  const base = `globals/${year}/${month}/${day}/${id}`;
  return { sql: `${base}.sql`, record: `${base}.json` };
}

/** The role names of `CREATE ROLE <name>;` lines, quoted names unquoted. */
export function rolesIn(sql: string): string[] {
  const roles: string[] = [];
  for (const match of sql.matchAll(/^CREATE ROLE ("(?:[^"]|"")+"|[^\s;]+);$/gm)) {
    const name = match[1] ?? '';
    roles.push(name.startsWith('"') ? name.slice(1, -1).replaceAll('""', '"') : name);
  }
  return roles.sort();
}

export async function dumpGlobals(deps: {
  store: BackupStore;
  connection: PgConnection;
  programs: PgPrograms;
  owner?: string | undefined;
  now?: () => Date;
}): Promise<GlobalsRecord> {
  const createdAt = (deps.now ?? (() => new Date()))();
  const session = await openSession(deps.connection);
  const identity = await readServerIdentity(session).finally(() => session.end().catch(() => undefined));
  const bundle = await deps.programs.clientForServer(identity.serverVersionNum);
  const chunks: Buffer[] = [];
  const messages: string[] = [];
  const pgDumpall = deps.programs.start(
    bundle,
    'pg_dumpall',
    // -l: the database it connects to; the URL's, which this role may connect to (postgres may not be).
    ['--globals-only', '--no-role-passwords', '--no-password', `--database=${deps.connection.database}`],
    { connection: deps.connection, onStderrLine: (line) => messages.push(line) },
  );
  pgDumpall.child.stdout?.on('data', (chunk: Buffer) => chunks.push(chunk));
  const exit = await pgDumpall.exit;
  if (exit.outcome !== 'ok') {
    throw (
      libpqTlsError(exit.lastLines, deps.connection) ??
      new DumpFailedError(`pg_dumpall --globals-only: ${describeExit(exit)}`, {
        details: { stderr: exit.lastLines.map((line) => describeError(line)).slice(-10) },
      })
    );
  }
  const sql = Buffer.concat(chunks);
  const id = newBackupId(createdAt, deps.owner);
  const record: GlobalsRecord = {
    globalsVersion: 1,
    id,
    createdAt: createdAt.toISOString(),
    serverVersion: identity.serverVersion,
    sha256: createHash('sha256').update(sql).digest('hex'),
    bytes: sql.length,
    roles: rolesIn(sql.toString('utf8')),
    skipped: messages.map((line) => describeError(line)).slice(0, 50),
  };
  const keys = globalsKeys(id);
  await deps.store.putObject(keys.sql, sql, 'application/sql');
  await deps.store.putJson(keys.record, record);
  return record;
}
