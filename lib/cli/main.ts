/**
 * backupctl: drive the pipeline from a terminal. Exit codes (documented in README and the runbook):
 *   0 ok, 1 failed, 2 usage or configuration error, 3 verification failed (checksum, archive, counts).
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { listBackups, readManifest, resolveBackupId } from '../backup/catalog.ts';
import {
  ArchiveUnreadableError,
  BackupError,
  ChecksumMismatchError,
  ConfigurationError,
  DrillCheckFailedError,
  describeError,
  InputValidationError,
  RowCountMismatchError,
} from '../errors.ts';
import { defaultStateDir, type LocalEnvironment, startLocalEnvironment } from '../local/environment.ts';
import { formatStateLine, runLocalBackup } from '../local/run-backup.ts';
import { drillKeyFigure, runLocalDrill } from '../local/run-drill.ts';
import { formatBytes } from '../notify/messages.ts';
import { parseConnectionUrl } from '../pg/connection.ts';
import { withSession } from '../pg/session.ts';
import { auditEntries, parseSince, renderAudit } from '../report/audit.ts';
import { readLocalExecutions } from '../report/executions.ts';
import { publishStatus } from '../report/publish-status.ts';
import { statusKeys } from '../report/render.ts';
import { buildStatusReport } from '../report/status-report.ts';
import { getRuntime } from '../runtime.ts';
import { keys } from '../storage/keys.ts';
import { verifyStoredChecksum } from '../verify/checksum.ts';
import { compareRowCounts } from '../verify/compare.ts';
import { restoreToStaging } from '../verify/restore.ts';

export const exitCodes = { ok: 0, failed: 1, usage: 2, verificationFailed: 3 } as const;

const usage = `Usage: backupctl <command> [options]

Commands:
  backup --local [--reason TEXT] [--compression zstd:3]   run the backup state machine locally
  list                                                    backups with time, size, verified, SHA-256
  verify <id|latest>                                      re-hash the stored dump and read its archive
  restore <id|latest> --target-url URL [--jobs N]         verify, then restore into an opted-in database
  status [--write]                                        backup status report (RPO, last failure, drill, trend);
                                                          --write puts status.json, BACKUP_STATUS.md, badge.svg in the bucket
  audit [--since 30d]                                     executions of both state machines: trigger, steps, causes
  drill [id|latest] --local [--reason TEXT]               restore drill into a fresh database, with evidence

Options: --json (machine-readable output), --local (default: local services, .local/ state)
Exit codes: 0 ok, 1 failed, 2 usage or configuration error, 3 verification failed`;

interface Output {
  json: boolean;
  print(human: string, data: unknown): void;
}

const verificationErrors = [
  ChecksumMismatchError,
  ArchiveUnreadableError,
  RowCountMismatchError,
  DrillCheckFailedError,
];
const verificationErrorNames = verificationErrors.map((kind) => kind.name);

function exitCodeFor(error: unknown): number {
  if (verificationErrors.some((kind) => error instanceof kind)) return exitCodes.verificationFailed;
  if (error instanceof InputValidationError || error instanceof ConfigurationError) return exitCodes.usage;
  return exitCodes.failed;
}

async function withLocal<T>(
  need: { production?: boolean; staging?: boolean },
  work: (environment: LocalEnvironment) => Promise<T>,
): Promise<T> {
  const environment = await startLocalEnvironment({ need });
  try {
    return await work(environment);
  } finally {
    await environment.stop();
  }
}

function runtimeFor(environment: LocalEnvironment) {
  return getRuntime({ ...process.env, ...environment.settings });
}

async function backupCommand(values: Record<string, unknown>, out: Output): Promise<number> {
  if (values.stage) {
    throw new ConfigurationError('backup --stage (AWS) is not available yet: deploy first (docs/deploy.md)');
  }
  const input = {
    trigger: 'cli',
    ...(values.reason ? { reason: values.reason } : {}),
    ...(values.compression ? { compression: values.compression } : {}),
  };
  return withLocal({}, async (environment) => {
    const execution = await runLocalBackup(environment, input, {
      onState: (state) => {
        if (!out.json) console.log(formatStateLine(state));
      },
    });
    out.print(
      execution.status === 'SUCCEEDED'
        ? `Backup ${(execution.output as { dump: { backupId: string } }).dump.backupId} verified.`
        : `Backup failed: ${execution.error?.name}: ${execution.error?.cause}`,
      execution,
    );
    if (execution.status === 'SUCCEEDED') return exitCodes.ok;
    return verificationErrorNames.includes(execution.error?.name ?? '')
      ? exitCodes.verificationFailed
      : exitCodes.failed;
  });
}

async function auditCommand(values: Record<string, unknown>, out: Output): Promise<number> {
  const sinceMs = parseSince(typeof values.since === 'string' ? values.since : '30d');
  const stateDir = resolve(process.env.BACKUP_LOCAL_STATE_DIR ?? defaultStateDir);
  const entries = auditEntries(await readLocalExecutions(stateDir), new Date(Date.now() - sinceMs));
  out.print(renderAudit(entries), entries);
  return exitCodes.ok;
}

async function drillCommand(target: string | undefined, values: Record<string, unknown>, out: Output) {
  if (values.stage) {
    throw new ConfigurationError('drill --stage (AWS) is not available yet: deploy first (docs/deploy.md)');
  }
  const input = {
    trigger: 'cli',
    backupId: target ?? 'latest',
    ...(values.reason ? { reason: values.reason } : {}),
  };
  return withLocal({ production: false }, async (environment) => {
    const execution = await runLocalDrill(environment, input, {
      onState: (state) => {
        if (!out.json) console.log(formatStateLine(state, drillKeyFigure));
      },
    });
    const evidence = (execution.output as { evidence?: { evidenceKey: string; markdownKey: string } })
      ?.evidence;
    out.print(
      execution.status === 'SUCCEEDED'
        ? `Drill passed. Evidence: ${evidence?.evidenceKey} and ${evidence?.markdownKey}`
        : `Drill FAILED: ${execution.error?.name}: ${execution.error?.cause}`,
      execution,
    );
    if (execution.status === 'SUCCEEDED') return exitCodes.ok;
    return verificationErrorNames.includes(execution.error?.name ?? '')
      ? exitCodes.verificationFailed
      : exitCodes.failed;
  });
}

async function listCommand(out: Output): Promise<number> {
  return withLocal({ production: false, staging: false }, async (environment) => {
    const { store } = runtimeFor(environment);
    const rows = [];
    for (const entry of await listBackups(store)) {
      const manifest = await readManifest(store, entry.backupId);
      rows.push({
        backupId: entry.backupId,
        createdAt: manifest.createdAt,
        bytes: manifest.dump.bytes,
        verified: entry.verified,
        sha256: manifest.dump.sha256,
        database: manifest.source.database,
      });
    }
    const table = rows
      .map(
        (r) =>
          `${r.backupId}  ${r.createdAt}  ${formatBytes(r.bytes).padStart(10)}  ${r.verified ? 'verified  ' : 'UNVERIFIED'}  ${r.sha256}`,
      )
      .join('\n');
    out.print(rows.length ? table : 'No backups yet.', rows);
    return exitCodes.ok;
  });
}

async function verifyCommand(target: string | undefined, out: Output): Promise<number> {
  if (!target) throw new InputValidationError('verify needs a backup id or "latest"');
  return withLocal({ production: false, staging: false }, async (environment) => {
    const runtime = runtimeFor(environment);
    const backupId = await resolveBackupId(runtime.store, target);
    const manifest = await readManifest(runtime.store, backupId);
    const bundle = await runtime.programs.clientForServer(manifest.client.bundleMajor * 10_000);
    const result = await verifyStoredChecksum(runtime.store, keys.dump(backupId), manifest.dump, {
      bundle,
      spawn: runtime.programs.spawn,
    });
    out.print(
      result.status === 'match'
        ? `${backupId}: SHA-256 matches (${result.actual.sha256}), archive readable (${result.archiveEntries} entries).`
        : `${backupId}: CHECKSUM MISMATCH: expected ${result.expected.sha256}, got ${result.actual.sha256}.`,
      { backupId, ...result },
    );
    return result.status === 'match' ? exitCodes.ok : exitCodes.verificationFailed;
  });
}

async function restoreCommand(target: string | undefined, values: Record<string, unknown>, out: Output) {
  if (!target) throw new InputValidationError('restore needs a backup id or "latest"');
  if (typeof values['target-url'] !== 'string') throw new InputValidationError('restore needs --target-url');
  const jobs = values.jobs === undefined ? undefined : Number(values.jobs);
  if (jobs !== undefined && (!Number.isInteger(jobs) || jobs < 1 || jobs > 64)) {
    throw new InputValidationError('--jobs must be a whole number from 1 to 64');
  }
  const connection = parseConnectionUrl(values['target-url'], '--target-url');
  return withLocal({ production: false, staging: false }, async (environment) => {
    const runtime = runtimeFor(environment);
    const backupId = await resolveBackupId(runtime.store, target);
    const manifest = await readManifest(runtime.store, backupId);
    const restored = await restoreToStaging(manifest, {
      store: runtime.store,
      target: connection,
      programs: runtime.programs,
      jobs: jobs ?? runtime.settings.RESTORE_JOBS,
      workDir: runtime.settings.WORK_DIR,
    });
    const compared = await withSession(connection, (session) => compareRowCounts(session, manifest));
    const summary = { backupId, ...restored, compare: compared };
    out.print(
      `${backupId} restored into ${restored.database} in ${restored.restoreSeconds.toFixed(1)} s; ` +
        `row counts ${compared.status} (${compared.tablesCompared} tables, ${compared.rowsCompared} rows).`,
      summary,
    );
    return compared.status === 'match' ? exitCodes.ok : exitCodes.verificationFailed;
  });
}

async function statusCommand(values: Record<string, unknown>, out: Output): Promise<number> {
  return withLocal({ production: false, staging: false }, async (environment) => {
    const runtime = runtimeFor(environment);
    const options = {
      now: new Date(),
      rpoHours: runtime.settings.RPO_HOURS,
      rtoHours: runtime.settings.RTO_HOURS,
      executions: await readLocalExecutions(environment.stateDir),
    };
    const report = values.write
      ? await publishStatus(runtime.store, {
          ...options,
          stage: runtime.settings.STAGE,
          log: () => undefined,
        })
      : await buildStatusReport(runtime.store, options);
    const written = values.write
      ? `\nWritten: ${statusKeys.json}, ${statusKeys.markdown}, ${statusKeys.badge}`
      : '';
    out.print(`${report.summary}${written}`, report);
    return report.withinRpo ? exitCodes.ok : exitCodes.failed;
  });
}

export async function main(argv: string[]): Promise<number> {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        json: { type: 'boolean' },
        local: { type: 'boolean' },
        stage: { type: 'string' },
        reason: { type: 'string' },
        compression: { type: 'string' },
        'target-url': { type: 'string' },
        jobs: { type: 'string' },
        write: { type: 'boolean' },
        since: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    console.error(`${describeError(error)}\n\n${usage}`);
    return exitCodes.usage;
  }
  const { values, positionals } = parsed;
  const json = values.json === true;
  const out: Output = {
    json,
    print: (human, data) => console.log(json ? JSON.stringify(data, null, 2) : human),
  };
  const [command, target, ...rest] = positionals;
  if (values.help || !command) {
    console.log(usage);
    return command || values.help ? exitCodes.ok : exitCodes.usage;
  }
  if (rest.length > 0) {
    console.error(`unexpected arguments: ${rest.join(' ')}\n\n${usage}`);
    return exitCodes.usage;
  }
  try {
    switch (command) {
      case 'backup':
        return await backupCommand(values, out);
      case 'list':
        return await listCommand(out);
      case 'verify':
        return await verifyCommand(target, out);
      case 'restore':
        return await restoreCommand(target, values, out);
      case 'status':
        return await statusCommand(values, out);
      case 'audit':
        return await auditCommand(values, out);
      case 'drill':
        return await drillCommand(target, values, out);
      default:
        console.error(`unknown command "${command}"\n\n${usage}`);
        return exitCodes.usage;
    }
  } catch (error) {
    const name = error instanceof BackupError ? error.name : 'Error';
    const message = describeError(error);
    if (json) console.log(JSON.stringify({ error: name, message }, null, 2));
    else console.error(message);
    return exitCodeFor(error);
  }
}
