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
 *   compare   the same tables; row counts within `driftPerHour` x the hours between the two, of ours;
 *             our backup's extensions present. Roles are not compared: the export restores without
 *             owners, and Render's export does not carry the roles.
 *   record    provider/render/drills/<drill-id>.json, labelled as Render's line
 *
 * A failure is a record with `passed: false` and the cause (ProviderDrillFailedError for the caller);
 * our own line's status is never touched.
 */
import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { listBackups } from '../backup/catalog.ts';
import { describeError, ProviderDrillFailedError } from '../errors.ts';
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

export const renderDrillKey = (drillId: string) => `provider/render/drills/${drillId}.json`;

/** Row counts may differ by this fraction of ours per hour between the two (both are live copies). */
export const defaultDriftPerHour = 0.01;

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
  driftPerHour?: number;
  signal?: AbortSignal;
}

export interface RenderDrillRecord {
  line: 'render';
  drillId: string;
  postgresId: string;
  startedAt: string;
  finishedAt: string;
  export: { id: string; createdAt: string; bytes: number | null; sha256: string | null } | null;
  comparedWith: { backupId: string; createdAt: string; hoursApart: number } | null;
  serverVersion: string | null;
  downloadSeconds: number | null;
  restoreSeconds: number | null;
  benignMessages: string[];
  tables: {
    compared: number;
    missing: string[];
    extra: string[];
    outsideDrift: { table: string; ours: number; render: number; allowed: number }[];
  } | null;
  missingExtensions: string[];
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
  const driftPerHour = options.driftPerHour ?? defaultDriftPerHour;
  const record: RenderDrillRecord = {
    line: 'render',
    drillId: `render-${startedAt.toISOString().replace(/[:.]/g, '-')}`,
    postgresId: options.postgresId,
    startedAt: startedAt.toISOString(),
    finishedAt: startedAt.toISOString(),
    export: null,
    comparedWith: null,
    serverVersion: null,
    downloadSeconds: null,
    restoreSeconds: null,
    benignMessages: [],
    tables: null,
    missingExtensions: [],
    driftPerHour,
    passed: false,
    problem: null,
  };
  try {
    await runDrill(options, record, driftPerHour);
  } catch (error) {
    if (!(error instanceof ProviderDrillFailedError)) throw error;
    record.problem = error.message;
  }
  record.passed = record.problem === null;
  record.finishedAt = new Date().toISOString();
  await options.store.putJson(renderDrillKey(record.drillId), record);
  return record;
}

async function runDrill(options: RenderDrillOptions, record: RenderDrillRecord, driftPerHour: number) {
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
