/**
 * The second-line drill: Render's newest logical export, proven restorable on a scratch server of
 * production's major and compared with our verified backup nearest to it in time. No backup tool we
 * know of proves the provider's own backup; this one has the scratch server to do it.
 *
 *   select    Render's newest export (its signed link kept in memory only) and our nearest verified
 *             backup (its manifest: tables, row counts, extensions, production's major)
 *   download  streamed from the link: SHA-256 and size as served, gunzip, tar (./export-archive.ts)
 *   restore   pg_restore of the directory-format archive into a fresh database, without owners or
 *             grants; errors are classified as for our own backups (lib/verify/restore-messages.ts)
 *   compare   the same tables; row counts within `driftPerHour` x the hours between the two, of ours
 *             (RENDER_DRILL_DRIFT_PERCENT_PER_HOUR); our backup's extensions present
 *   roles     a pg_dump archive never holds role definitions (they are the server's, pg_dumpall's);
 *             it does hold each object's owner and its grants, in its table of contents. Those are
 *             read with `pg_restore --list` and compared with the owners and grants our manifest
 *             recorded (lib/pg/ownership.ts): the same owner per relation, and a grant entry for each
 *             relation ours grants to a role other than its owner. What the grants say is not
 *             compared (that needs the roles on the scratch server: our own drills replay them).
 *   record    provider/render/drills/<drill-id>.json, labelled as Render's line
 *
 * A failure is a record with `passed: false` and the cause (ProviderDrillFailedError for the caller);
 * our own line's status is never touched.
 */
import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { listBackups } from '../backup/catalog.ts';
import { ConfigurationError, describeError, ProviderDrillFailedError } from '../errors.ts';
import { withDatabase } from '../pg/connection.ts';
import type { PgPrograms } from '../pg/process.ts';
import { countRows, listTables } from '../pg/row-counts.ts';
import { availableServerBundles, serverForSource } from '../pg/server-bundle.ts';
import { installedExtensions, quoteIdentifier, withSession } from '../pg/session.ts';
import type { BackupStore } from '../storage/backup-store.ts';
import { classifyRestoreLine, type RestoreMessages, restoreSucceeded } from '../verify/restore-messages.ts';
import { scratchDatabaseName, startScratchServer } from '../verify/scratch-server.ts';
import { downloadExport } from './export-archive.ts';
import { newestRenderExport, type RetryPolicy } from './render.ts';

const renderDrillPrefix = 'provider/render/drills/';
export const renderDrillKey = (drillId: string) => `${renderDrillPrefix}${drillId}.json`;

/**
 * Render's export as our manifest would describe it: per relation (by `<TOC description> <schema>
 * <name>`), its owner and whether it carries a grant entry. pg_restore --list prints
 * `<id>; <tableoid> <oid> TABLE public orders app` and `<id>; 0 0 ACL public TABLE orders app`.
 */
export interface ArchiveRoles {
  owners: Map<string, string>;
  granted: Set<string>;
}

/** pg_restore --list's description of each relation kind of lib/pg/ownership.ts. */
const tocDescriptions: Record<string, string> = {
  r: 'TABLE',
  p: 'TABLE',
  v: 'VIEW',
  m: 'MATERIALIZED VIEW',
  S: 'SEQUENCE',
  f: 'FOREIGN TABLE',
};

/** Entries whose description starts like a relation's but are about its data or its attachment. */
const notRelations = [
  'TABLE DATA ',
  'TABLE ATTACH ',
  'SEQUENCE SET ',
  'SEQUENCE OWNED BY ',
  'MATERIALIZED VIEW DATA ',
];

/** Reads owners and grant entries from pg_restore --list's lines (names as pg_restore prints them). */
export function archiveRolesFromListing(lines: string[]): ArchiveRoles {
  const owners = new Map<string, string>();
  const granted = new Set<string>();
  const kinds = [...new Set(Object.values(tocDescriptions))].sort((a, b) => b.length - a.length);
  for (const line of lines) {
    const entry = /^\d+; \d+ \d+ (.*)$/.exec(line)?.[1];
    if (!entry || notRelations.some((prefix) => entry.startsWith(prefix))) continue;
    const acl = entry.startsWith('ACL ');
    const body = acl ? entry.slice(4) : entry;
    if (acl) {
      // ACL <schema> <kind> <name> <owner>
      const space = body.indexOf(' ');
      const schema = body.slice(0, space);
      const rest = body.slice(space + 1);
      const kind = kinds.find((k) => rest.startsWith(`${k} `));
      if (!kind) continue;
      const name = rest.slice(kind.length + 1, rest.lastIndexOf(' '));
      granted.add(`${kind} ${schema} ${name}`);
      continue;
    }
    const kind = kinds.find((k) => body.startsWith(`${k} `));
    if (!kind) continue;
    const rest = body.slice(kind.length + 1);
    const owner = rest.slice(rest.lastIndexOf(' ') + 1);
    owners.set(`${kind} ${rest.slice(0, rest.lastIndexOf(' '))}`, owner);
  }
  return { owners, granted };
}

/** Whether an ACL grants anything to a role other than `owner` (PUBLIC included). */
function grantsToOthers(acl: string | null, owner: string): boolean {
  if (acl === null) return false;
  return acl
    .replace(/^\{|\}$/g, '')
    .split(',')
    .filter(Boolean)
    .some((item) => {
      const grantee = item.slice(0, item.indexOf('=')).replace(/^"|"$/g, '').replaceAll('""', '"');
      return grantee !== owner;
    });
}

/** Our manifest's owners and grants against the export's table of contents. */
export function compareArchiveRoles(
  ours: { kind: string; schema: string; name: string; owner: string; acl: string | null }[],
  archive: ArchiveRoles,
): NonNullable<RenderDrillRecord['roles']> {
  const relations = ours.filter((o) => tocDescriptions[o.kind] !== undefined);
  const ownerDiffers: { relation: string; ours: string; render: string }[] = [];
  const grantsMissing: string[] = [];
  let compared = 0;
  for (const relation of relations) {
    const description = tocDescriptions[relation.kind];
    const key = `${description} ${relation.schema} ${relation.name}`;
    const shown = `${description} ${relation.schema}.${relation.name}`;
    const owner = archive.owners.get(key);
    if (owner === undefined) continue;
    compared++;
    if (owner !== relation.owner) ownerDiffers.push({ relation: shown, ours: relation.owner, render: owner });
    if (grantsToOthers(relation.acl, relation.owner) && !archive.granted.has(key)) grantsMissing.push(shown);
  }
  return {
    definitions: 'not in a pg_dump archive',
    ownersCompared: compared,
    ownerDiffers,
    grantEntries: archive.granted.size,
    grantsMissing,
  };
}

export interface RenderDrillOptions {
  apiKey: string;
  postgresId: string;
  baseUrl?: string;
  fetch?: typeof fetch;
  retry?: RetryPolicy;
  store: BackupStore;
  programs: PgPrograms<'pg_restore' | 'psql'>;
  serverDir?: string | undefined;
  extensions?: string[];
  workDir?: string | undefined;
  jobs: number;
  /** The allowance per hour between the two, as a fraction of ours (the setting is in percent). */
  driftPerHour: number;
  signal?: AbortSignal | undefined;
}

export interface RenderDrillRecord {
  line: 'render';
  drillId: string;
  postgresId: string;
  startedAt: string;
  finishedAt: string;
  export: { id: string; createdAt: string; bytes: number | null; sha256: string | null } | null;
  /** How old the export was when the drill started (hours). */
  exportAgeHours: number | null;
  comparedWith: { backupId: string; createdAt: string; hoursApart: number } | null;
  serverVersion: string | null;
  downloadSeconds: number | null;
  restoreSeconds: number | null;
  /** The observed RTO of this line: from the drill's start to the export restored and readable. */
  rtoSeconds: number | null;
  benignMessages: string[];
  tables: {
    compared: number;
    missing: string[];
    extra: string[];
    outsideDrift: { table: string; ours: number; render: number; allowed: number }[];
  } | null;
  missingExtensions: string[];
  /**
   * Roles in the export: never their definitions (a pg_dump archive has none); owners per relation and
   * grant entries, compared with our manifest's record. Null before the comparison, or when our
   * backup recorded no ownership.
   */
  roles: {
    definitions: 'not in a pg_dump archive';
    ownersCompared: number;
    ownerDiffers: { relation: string; ours: string; render: string }[];
    /** How many grant (ACL) entries the export's table of contents holds. */
    grantEntries: number;
    /** Relations ours grants to another role, with no grant entry in the export. */
    grantsMissing: string[];
  } | null;
  driftPerHour: number;
  passed: boolean;
  problem: string | null;
}

const qualified = (t: { schema: string; table: string }) => `${t.schema}.${t.table}`;

/** The archive's directory: the one holding toc.dat (one database per export). */
function archiveDirectory(files: string[]): string {
  const tocs = files.filter((f) => f === 'toc.dat' || f.endsWith('/toc.dat'));
  if (tocs.length !== 1) {
    throw new ProviderDrillFailedError(
      tocs.length === 0
        ? 'the export holds no toc.dat: it is not a pg_dump directory-format archive'
        : `the export holds ${tocs.length} archives (${tocs.slice(0, 3).join(', ')}): expected one`,
    );
  }
  return dirname(tocs[0] as string);
}

export async function drillRenderExport(options: RenderDrillOptions): Promise<RenderDrillRecord> {
  const startedAt = new Date();
  const driftPerHour = options.driftPerHour;
  if (!Number.isFinite(driftPerHour) || driftPerHour < 0 || driftPerHour > 1) {
    throw new ConfigurationError(
      'RENDER_DRILL_DRIFT_PERCENT_PER_HOUR (stage config: render.drillDriftPercentPerHour) must be 0-100 percent per hour',
      { details: { field: 'RENDER_DRILL_DRIFT_PERCENT_PER_HOUR' } },
    );
  }
  const record: RenderDrillRecord = {
    line: 'render',
    drillId: `render-${startedAt.toISOString().replace(/[:.]/g, '-')}`,
    postgresId: options.postgresId,
    startedAt: startedAt.toISOString(),
    finishedAt: startedAt.toISOString(),
    export: null,
    exportAgeHours: null,
    comparedWith: null,
    serverVersion: null,
    downloadSeconds: null,
    restoreSeconds: null,
    rtoSeconds: null,
    benignMessages: [],
    tables: null,
    missingExtensions: [],
    roles: null,
    driftPerHour,
    passed: false,
    problem: null,
  };
  try {
    await runDrill(options, record, driftPerHour, startedAt);
  } catch (error) {
    if (!(error instanceof ProviderDrillFailedError)) throw error;
    record.problem = error.message;
  }
  record.passed = record.problem === null;
  record.finishedAt = new Date().toISOString();
  await options.store.putJson(renderDrillKey(record.drillId), record);
  return record;
}

async function runDrill(
  options: RenderDrillOptions,
  record: RenderDrillRecord,
  driftPerHour: number,
  startedAt: Date,
) {
  const newest = await newestRenderExport({
    apiKey: options.apiKey,
    postgresId: options.postgresId,
    ...(options.baseUrl ? { baseUrl: options.baseUrl } : {}),
    ...(options.fetch ? { fetch: options.fetch } : {}),
    ...(options.retry ? { retry: options.retry } : {}),
  });
  if (!newest) throw new ProviderDrillFailedError('Render has no logical export to drill');
  record.export = { id: newest.id, createdAt: newest.createdAt, bytes: null, sha256: null };
  const exportAt = Date.parse(newest.createdAt);
  record.exportAgeHours = Math.round(((startedAt.getTime() - exportAt) / 3_600_000) * 100) / 100;
  const verified = (await listBackups(options.store)).filter((entry) => entry.verified);
  const nearest = verified.sort(
    (a, b) => Math.abs(a.createdAt.getTime() - exportAt) - Math.abs(b.createdAt.getTime() - exportAt),
  )[0];
  if (!nearest) throw new ProviderDrillFailedError('no verified backup of ours to compare the export with');
  const manifest = nearest.manifest;
  const hoursApart = Math.abs(nearest.createdAt.getTime() - exportAt) / 3_600_000;
  record.comparedWith = {
    backupId: nearest.backupId,
    createdAt: nearest.createdAt.toISOString(),
    hoursApart: Math.round(hoursApart * 100) / 100,
  };

  const bundles = await availableServerBundles({
    serverDir: options.serverDir,
    extensions: options.extensions ?? [],
  });
  const server = await startScratchServer({
    bundle: serverForSource(manifest.source.serverVersionNum, bundles),
    workDir: options.workDir,
    jobs: options.jobs,
    signal: options.signal,
  });
  record.serverVersion = server.version;
  try {
    const exportDir = join(server.directory, 'render-export');
    await mkdir(exportDir, { mode: 0o700 });
    const downloaded = await downloadExport(newest.url, exportDir, {
      ...(options.fetch ? { fetch: options.fetch } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
    record.export = { ...record.export, bytes: downloaded.bytes, sha256: downloaded.sha256 };
    record.downloadSeconds = downloaded.downloadSeconds;
    const archive = join(exportDir, archiveDirectory(downloaded.files));

    const database = scratchDatabaseName();
    await withSession(server.connection, (session) =>
      session.query(`CREATE DATABASE ${quoteIdentifier(database)}`),
    );
    const target = withDatabase(server.connection, database);
    const restoreStarted = Date.now();
    const messages: RestoreMessages = { benign: [], fatal: [] };
    const bundle = await options.programs.clientForServer(server.major * 10_000);
    const restore = options.programs.start(
      bundle,
      'pg_restore',
      ['--no-owner', '--no-acl', `--jobs=${options.jobs}`, '--no-password', `--dbname=${database}`, archive],
      {
        connection: target,
        stdout: 'ignore',
        signal: options.signal,
        onStderrLine: (line) => classifyRestoreLine(line, messages),
      },
    );
    const exit = await restore.exit;
    record.restoreSeconds = (Date.now() - restoreStarted) / 1000;
    record.benignMessages = [...new Set(messages.benign)];
    if (!restoreSucceeded(messages, exit.exitCode)) {
      const shown = [...messages.fatal, ...(messages.unexplained ?? []), ...exit.lastLines.slice(-3)]
        .slice(0, 5)
        .map((m) => describeError(m));
      throw new ProviderDrillFailedError(
        `the export did not restore (pg_restore exit ${exit.exitCode ?? exit.signal}): ${shown.join(' | ')}`,
      );
    }
    // This line's RTO: from the drill's start to a restored copy (the comparison is not part of it).
    record.rtoSeconds = (Date.now() - startedAt.getTime()) / 1000;

    const { present, counts, extensions } = await withSession(target, async (session) => {
      const tables = await listTables(session);
      return {
        present: tables,
        counts: await countRows(session, tables),
        extensions: await installedExtensions(session),
      };
    });
    const renderRows = new Map(counts.map((t) => [qualified(t), t.rows]));
    const ours = new Map(manifest.tables.map((t) => [qualified(t), t.rows]));
    const missing = [...ours.keys()].filter((name) => !renderRows.has(name));
    const extra = present.map(qualified).filter((name) => !ours.has(name));
    const outsideDrift = [...ours.entries()].flatMap(([table, rows]) => {
      const render = renderRows.get(table);
      if (render === undefined) return [];
      const allowed = Math.ceil(rows * driftPerHour * hoursApart);
      return Math.abs(render - rows) > allowed ? [{ table, ours: rows, render, allowed }] : [];
    });
    record.tables = { compared: ours.size - missing.length, missing, extra, outsideDrift };
    const installed = new Set(extensions.map((e) => e.name));
    record.missingExtensions = (manifest.extensions ?? [])
      .map((e) => e.name)
      .filter((name) => name !== 'plpgsql' && !installed.has(name));
    if (manifest.ownership) {
      const listing = await listArchive(options, bundle, target, archive);
      record.roles = compareArchiveRoles(manifest.ownership, archiveRolesFromListing(listing));
    }
    const roles = record.roles;

    const problems = [
      missing.length ? `tables of ours missing from the export: ${missing.slice(0, 5).join(', ')}` : '',
      extra.length ? `tables in the export that ours lacks: ${extra.slice(0, 5).join(', ')}` : '',
      outsideDrift.length
        ? `row counts beyond ${driftPerHour * 100} %/h over ${record.comparedWith?.hoursApart} h: ${outsideDrift
            .slice(0, 5)
            .map((d) => `${d.table} ours ${d.ours}, Render ${d.render}`)
            .join('; ')}`
        : '',
      record.missingExtensions.length ? `extensions missing: ${record.missingExtensions.join(', ')}` : '',
      roles?.ownerDiffers.length
        ? `owners differ: ${roles.ownerDiffers
            .slice(0, 5)
            .map((d) => `${d.relation} ours ${d.ours}, Render ${d.render}`)
            .join('; ')}`
        : '',
      roles?.grantsMissing.length
        ? `grants of ours missing from the export: ${roles.grantsMissing.slice(0, 5).join(', ')}`
        : '',
    ].filter(Boolean);
    if (problems.length) {
      throw new ProviderDrillFailedError(
        `the export differs from our ${nearest.backupId}: ${problems.join('; ')}`,
      );
    }
  } finally {
    await server.stop();
  }
}

/** The archive's table of contents, one line per entry (owners and grant entries only are kept). */
async function listArchive(
  options: RenderDrillOptions,
  bundle: Awaited<ReturnType<RenderDrillOptions['programs']['clientForServer']>>,
  connection: ReturnType<typeof withDatabase>,
  archive: string,
): Promise<string[]> {
  const lister = options.programs.start(bundle, 'pg_restore', ['--list', archive], {
    connection,
    stdout: 'pipe',
    signal: options.signal,
  });
  const lines: string[] = [];
  let partial = '';
  lister.child.stdout?.on('data', (chunk: Buffer) => {
    const parts = (partial + chunk.toString('utf8')).split('\n');
    partial = parts.pop() ?? '';
    for (const line of parts) if (/^\d+; \d+ \d+ /.test(line)) lines.push(line);
  });
  const exit = await lister.exit;
  if (exit.exitCode !== 0) {
    throw new ProviderDrillFailedError(
      `pg_restore --list could not read the export's table of contents: ${exit.lastLines.slice(-2).join(' | ')}`,
    );
  }
  return lines;
}

/** What the status report shows of Render's newest drill: when, the verdict, its RTO, the export's age. */
export interface RenderDrillSummary {
  drillId: string;
  at: string;
  passed: boolean;
  rtoSeconds: number | null;
  exportId: string | null;
  exportAgeHours: number | null;
  comparedWith: string | null;
  problem: string | null;
  recordKey: string;
}

const summarySchema = z.object({
  drillId: z.string(),
  startedAt: z.string(),
  passed: z.boolean(),
  rtoSeconds: z.number().nullable().optional(),
  export: z.object({ id: z.string() }).nullable(),
  exportAgeHours: z.number().nullable().optional(),
  comparedWith: z.object({ backupId: z.string() }).nullable(),
  problem: z.string().nullable(),
});

/**
 * The newest record under provider/render/drills/ (ids sort by time), or null before the first. A
 * record that does not parse is shown as a failed drill naming it, never hidden.
 */
export async function newestRenderDrill(store: BackupStore): Promise<RenderDrillSummary | null> {
  const keys = (await store.list(renderDrillPrefix))
    .map((o) => o.key)
    .filter((key) => key.endsWith('.json'))
    .sort();
  const recordKey = keys.at(-1);
  if (!recordKey) return null;
  const text = await store.getText(recordKey);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  const parsed = summarySchema.safeParse(json);
  if (!parsed.success) {
    return {
      drillId: recordKey.slice(renderDrillPrefix.length, -'.json'.length),
      at: '',
      passed: false,
      rtoSeconds: null,
      exportId: null,
      exportAgeHours: null,
      comparedWith: null,
      problem: `the record ${recordKey} cannot be read`,
      recordKey,
    };
  }
  const record = parsed.data;
  return {
    drillId: record.drillId,
    at: record.startedAt,
    passed: record.passed,
    rtoSeconds: record.rtoSeconds ?? null,
    exportId: record.export?.id ?? null,
    exportAgeHours: record.exportAgeHours ?? null,
    comparedWith: record.comparedWith?.backupId ?? null,
    problem: record.problem,
    recordKey,
  };
}
