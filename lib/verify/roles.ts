/**
 * Restoring with roles: the night's globals (lib/backup/globals.ts) replayed on the target before the
 * restore, so pg_restore keeps owners and grants instead of dropping them (`--no-owner --no-acl`), and
 * the result checked against the owners and grants the manifest recorded.
 *
 * The replay runs the SQL with psql, statement by statement: a role that exists already is fine, and
 * what the target refuses (a non-superuser may not create a superuser role) is reported as skipped,
 * not fatal; the ownership check then says whether anything that matters went missing. Roles are
 * created without passwords (`--no-role-passwords`); the runbook says how to set them. A target user
 * with CREATEROLE but without superuser (the admin user a managed provider gives you) must become a
 * member of the roles it creates to hand restored objects to them: on PostgreSQL 16+ the session sets
 * createrole_self_grant; before 16 that setting does not exist (the server refuses the connection if
 * it is named), and the replay grants each role it created to the restoring user instead, which is
 * what the setting does.
 */
import { createHash } from 'node:crypto';
import {
  type GlobalsRecord,
  globalsIdOf,
  globalsKeys,
  globalsPrefix,
  globalsRecordSchema,
  nightGlobalsId,
  rolesIn,
} from '../backup/globals.ts';
import { type Manifest, parseStoredRecord } from '../backup/manifest.ts';
import {
  BackupNotFoundError,
  ChecksumMismatchError,
  describeError,
  OwnershipMismatchError,
  RestoreFailedError,
} from '../errors.ts';
import type { PgConnection } from '../pg/connection.ts';
import { applyOwnership, compareOwnership, readOwnership } from '../pg/ownership.ts';
import type { PgPrograms } from '../pg/process.ts';
import { describeExit } from '../pg/process.ts';
import { quoteIdentifier, type Session, withSession } from '../pg/session.ts';
import type { BackupStore } from '../storage/backup-store.ts';

export interface NightGlobals {
  record: GlobalsRecord;
  sql: string;
}

/**
 * The globals for a backup made at `createdAt`: the newest record taken at or before it (the night's),
 * else the oldest after it; checked against its SHA-256. Undefined when the bucket has none.
 */
export async function globalsFor(store: BackupStore, createdAt: Date): Promise<NightGlobals | undefined> {
  const ids = (await store.list(globalsPrefix)).flatMap((o) => {
    const id = o.key.endsWith('.json') ? globalsIdOf(o.key) : undefined;
    return id === undefined ? [] : [id];
  });
  const id = nightGlobalsId(ids, createdAt);
  if (!id) return undefined;
  const keys = globalsKeys(id);
  const record = parseStoredRecord(
    globalsRecordSchema,
    await store.getText(keys.record),
    keys.record,
    'globals record',
  );
  const sql = await store.getText(keys.sql);
  const sha256 = createHash('sha256').update(sql).digest('hex');
  if (sha256 !== record.sha256) {
    throw new ChecksumMismatchError(`${keys.sql} does not match its record`, {
      details: { expected: record.sha256, actual: sha256 },
    });
  }
  return { record, sql };
}

/** The globals of `createdAt`, or a named error when a restore with roles has none to replay. */
export async function requireGlobals(store: BackupStore, createdAt: Date): Promise<NightGlobals> {
  const globals = await globalsFor(store, createdAt);
  if (!globals) {
    throw new BackupNotFoundError(
      'no globals/ record in the bucket: the nightly run captures the roles (backupctl backup --all-databases); restore without --with-roles meanwhile',
    );
  }
  return globals;
}

/**
 * The SQL as a user without superuser can replay it, meaning the same: `NOSUPERUSER`, `NOREPLICATION`
 * and `NOBYPASSRLS` are what CREATE ROLE gives anyway, but only a superuser may state them, so they
 * go; a membership's `GRANTED BY` names a grantor only a superuser may act as, so the restoring user
 * grants it itself. The role the replay connects as is never altered: production's role of that name
 * (RDS and Supabase have a `postgres` role, as the scratch server's superuser is called) must not lock
 * the restore out (NOLOGIN) or slow it down (a statement_timeout among its settings). Everything else
 * (SUPERUSER, other roles' settings) is replayed as written, and a refusal is reported.
 */
const alterRole = 'ALTER ROLE ';

export function forReplay(sql: string, connectedAs: string): string {
  const self = [connectedAs, `"${connectedAs.replaceAll('"', '""')}"`];
  return sql
    .split('\n')
    .filter(
      (line) =>
        !(
          line.startsWith(alterRole) &&
          self.some((name) => line.slice(alterRole.length).startsWith(`${name} `))
        ),
    )
    .join('\n')
    .replace(
      /^(ALTER ROLE .* WITH)(.*);$/gm,
      (_, head: string, attributes: string) =>
        `${head}${attributes.replace(/ (NOSUPERUSER|NOREPLICATION|NOBYPASSRLS)\b/g, '')};`,
    )
    .replace(/^(GRANT .*?) GRANTED BY (?:"(?:[^"]|"")+"|\S+);$/gm, '$1;');
}

/** The server_version_num from which `createrole_self_grant` exists. */
const createroleSelfGrantSince = 160000;

/**
 * Before PostgreSQL 16, what createrole_self_grant does, as SQL to run after the globals: each role the
 * replay creates (one that does not exist yet) granted to the restoring user, unless it is a superuser
 * (who needs no membership). Roles that exist already stay someone else's, as on 16+.
 */
async function selfGrantsBefore16(target: PgConnection, sql: string): Promise<string> {
  const { superuser, existing } = await withSession(target, async (session) => ({
    superuser: (
      await session.query<{ rolsuper: boolean }>(
        'SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user',
      )
    ).rows[0]?.rolsuper,
    existing: new Set(
      (await session.query<{ rolname: string }>('SELECT rolname FROM pg_catalog.pg_roles')).rows.map(
        (r) => r.rolname,
      ),
    ),
  }));
  if (superuser) return '';
  return rolesIn(sql)
    .filter((role) => !existing.has(role))
    .map((role) => `GRANT ${quoteIdentifier(role)} TO CURRENT_USER;\n`)
    .join('');
}

const benign = [
  /^psql:.*ERROR:\s+role ".*" already exists$/,
  /^psql:.*ERROR:\s+tablespace ".*" already exists$/,
];

const roleName = '(?:"(?:[^"]|"")+"|[^\\s";,]+)';
/** Role attributes as pg_dumpall writes them; PASSWORD and VALID UNTIL carry values and are never shown. */
const attribute = /^(?:NO)?(?:SUPERUSER|CREATEDB|CREATEROLE|INHERIT|LOGIN|REPLICATION|BYPASSRLS)$/;
/**
 * Each kind of statement the replay runs, and the words that describe one: the kind and the names, as
 * parts joined with spaces (a description, never SQL that runs).
 */
const statementKinds: [RegExp, (m: RegExpExecArray) => (string | undefined)[]][] = [
  [new RegExp(`^CREATE ROLE (${roleName})`), (m) => ['CREATE ROLE', m[1]]],
  [
    new RegExp(`^ALTER ROLE (${roleName}) WITH (.*);$`),
    (m) => ['ALTER ROLE', m[1], 'WITH', ...(m[2] ?? '').split(/\s+/).filter((word) => attribute.test(word))],
  ],
  [
    new RegExp(`^ALTER ROLE (${roleName}) (?:IN DATABASE (${roleName}) )?(SET|RESET) ([\\w.]+)`),
    (m) => ['ALTER ROLE', m[1], ...(m[2] ? ['IN DATABASE', m[2]] : []), m[3], m[4]],
  ],
  [
    new RegExp(`^GRANT (${roleName}(?:, ${roleName})*) TO (${roleName}(?:, ${roleName})*)`),
    (m) => ['GRANT', m[1], 'TO', m[2]],
  ],
  [new RegExp(`^COMMENT ON ROLE (${roleName})`), (m) => ['COMMENT ON ROLE', m[1]]],
  [new RegExp(`^SECURITY LABEL FOR \\S+ ON ROLE (${roleName})`), (m) => ['SECURITY LABEL ON ROLE', m[1]]],
  [
    new RegExp(`^(CREATE|ALTER|COMMENT ON|GRANT .* ON) TABLESPACE (${roleName})`),
    (m) => [m[1]?.startsWith('GRANT') ? 'GRANT ON' : m[1], 'TABLESPACE', m[2]],
  ],
];

/**
 * What a statement of the replay was, for saying what the target refused: its kind and the roles (or
 * tablespace) it names, never its text (a role setting may hold a value someone considers secret).
 */
export function describeReplayStatement(statement: string): string {
  const text = statement.trim();
  for (const [pattern, describe] of statementKinds) {
    const match = pattern.exec(text);
    if (match) return describe(match).join(' ');
  }
  return ['a', ...text.split(/\s+/).slice(0, 2), 'statement'].join(' ').replace(/; statement$/, ' statement');
}

/**
 * The statement of `script` that psql's `psql:<stdin>:N:` points at: psql names the line it had read
 * when the statement ended, so the statement runs back to the line after the previous one that ended.
 */
export function replayStatementAt(script: string, line: number): string | undefined {
  const lines = script.split('\n');
  if (line < 1 || line > lines.length) return undefined;
  let first = line - 1;
  const ended = (text: string) =>
    text.trimEnd().endsWith(';') || text.trim() === '' || text.startsWith('--') || text.startsWith('\\');
  while (first > 0 && !ended(lines[first - 1] ?? '')) first--;
  return lines.slice(first, line).join(' ');
}

/**
 * psql's errors of the replay as `<statement kind and role>: <error> (<detail>)`. psql writes the
 * error on a line of its own, `psql:<stdin>:N: ERROR:  ...`, and its DETAIL on the next.
 */
function describeRefusals(script: string, stderr: string[]): string[] {
  const refused: string[] = [];
  for (const [i, line] of stderr.entries()) {
    if (!line.includes('ERROR:') || benign.some((pattern) => pattern.test(line))) continue;
    const error = /^(?:psql:[^:]*:(\d+): )?.*?ERROR:\s+(.*)$/.exec(line) ?? [];
    const statement = error[1] ? replayStatementAt(script, Number(error[1])) : undefined;
    const detail = /^DETAIL:\s+(.*)$/.exec(stderr[i + 1] ?? '')?.[1];
    refused.push(
      describeError(
        `${statement === undefined ? '' : `${describeReplayStatement(statement)}: `}${error[2]}${detail ? ` (${detail})` : ''}`,
      ),
    );
  }
  return refused;
}

/** Creates the roles (and their settings and memberships) on the target; returns what it refused. */
export async function replayGlobals(
  target: PgConnection,
  sql: string,
  programs: PgPrograms<'psql'>,
  serverVersionNum: number,
): Promise<{ skipped: string[] }> {
  // psql 18 reads the \restrict lines pg_dumpall 18 writes; the bundle's client serves every server.
  const bundle = await programs.clientForServer(Math.max(serverVersionNum, 180000));
  const selfGrant = serverVersionNum >= createroleSelfGrantSince;
  const joins = selfGrant ? '' : await selfGrantsBefore16(target, sql);
  const stderr: string[] = [];
  const script = `${forReplay(sql, target.user)}\n${joins}`;
  const psql = programs.start(
    bundle,
    'psql',
    ['-X', '-q', '--no-password', '-v', 'ON_ERROR_STOP=0', '-f', '-'],
    {
      connection: target,
      stdin: 'pipe',
      stdout: 'ignore',
      // Only what the target knows: a setting it does not know in PGOPTIONS refuses the connection.
      env: selfGrant ? { PGOPTIONS: '-c createrole_self_grant=set,inherit' } : {},
      onStderrLine: (line) => {
        // Bounded: an error and its detail each; a replay of thousands of refused roles keeps the first.
        if (stderr.length < 400) stderr.push(line);
      },
    },
  );
  psql.child.stdin?.on('error', () => undefined);
  psql.child.stdin?.end(script);
  const exit = await psql.exit;
  if (exit.outcome !== 'ok') {
    throw new RestoreFailedError(`replaying the roles with psql failed: ${describeExit(exit)}`);
  }
  return { skipped: describeRefusals(script, stderr).slice(0, 50) };
}

/** What a restore with roles came to: the globals used, what the target refused, the owners' check. */
export interface RolesOutcome {
  globalsId: string;
  skipped: string[];
  ownership: 'match' | 'not recorded';
}

/**
 * After a restore with grants: each schema and relation to its recorded owner (lib/pg/ownership.ts),
 * then owners and grants compared with the manifest. A difference is OwnershipMismatchError naming the
 * objects (never data) and what the target refused; a manifest from before owners were recorded is
 * said to be so, not passed as a match.
 */
export async function handOverOwnership(
  session: Session,
  manifest: Manifest,
  roles: NightGlobals,
  refusedBefore: string[],
  where: string,
): Promise<RolesOutcome> {
  if (!manifest.ownership)
    return { globalsId: roles.record.id, skipped: refusedBefore, ownership: 'not recorded' };
  const skipped = [...refusedBefore, ...(await applyOwnership(session, manifest.ownership))];
  const target = await session.query<{ version: string }>(
    "SELECT current_setting('server_version_num') AS version",
  );
  const differences = compareOwnership(manifest.ownership, await readOwnership(session), {
    source: manifest.source.serverVersionNum,
    target: Number(target.rows[0]?.version),
  });
  if (differences.length > 0) {
    throw new OwnershipMismatchError(
      `${differences.length} owner or grant difference(s) in ${where} after restoring ${manifest.backupId} with roles: ${differences.slice(0, 10).join('; ')}${skipped.length ? ` (refused: ${skipped.slice(0, 5).join(' | ')})` : ''}`,
      { details: { differences: differences.slice(0, 50), skipped: skipped.slice(0, 50) } },
    );
  }
  return { globalsId: roles.record.id, skipped, ownership: 'match' };
}
