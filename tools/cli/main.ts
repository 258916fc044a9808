/**
 * backupctl: drive the pipeline from a terminal. Exit codes (documented in README and the runbook):
 *   0 ok, 1 failed, 2 usage or configuration error, 3 verification failed (checksum, archive, counts);
 *   130 when Ctrl-C stopped following an execution on a stage (the execution keeps running).
 * `--local` runs against local services, `--stage <stage>` against a deployed stage (lib/aws).
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { S3Client } from '@aws-sdk/client-s3';
import { readStageExecutions } from '../../lib/aws/executions.ts';
import { createSfnClient, type SfnApi, type Sleep } from '../../lib/aws/sfn.ts';
import { listBackups, readManifest, resolveBackupId } from '../../lib/backup/catalog.ts';
import { drillInputSchema } from '../../lib/drill/input.ts';
import {
  BackupError,
  ConfigurationError,
  describeError,
  InputValidationError,
  verificationErrorNames,
} from '../../lib/errors.ts';
import { formatBytes } from '../../lib/notify/messages.ts';
import { parseConnectionUrl } from '../../lib/pg/connection.ts';
import { withSession } from '../../lib/pg/session.ts';
import { providerCheckFor } from '../../lib/provider/provider-check.ts';
import { auditEntries, parseSince, renderAudit } from '../../lib/report/audit.ts';
import { type ExecutionSummary, readableCause, readLocalExecutions } from '../../lib/report/executions.ts';
import { publishStatus } from '../../lib/report/publish-status.ts';
import { statusKeys } from '../../lib/report/render.ts';
import { buildStatusReport } from '../../lib/report/status-report.ts';
import { getRuntime, type Runtime } from '../../lib/runtime.ts';
import { executionInputSchema, parseInput } from '../../lib/steps/input.ts';
import { BackupStore } from '../../lib/storage/backup-store.ts';
import { keys } from '../../lib/storage/keys.ts';
import { createS3Client } from '../../lib/storage/s3-client.ts';
import { verifyStoredChecksum } from '../../lib/verify/checksum.ts';
import { compareRowCounts } from '../../lib/verify/compare.ts';
import { restoreToStaging } from '../../lib/verify/restore.ts';
import { DeployedStage, loadStageSettings, type StageSettings } from '../aws/stage.ts';
import {
  defaultStateDir,
  type LocalEnvironment,
  projectRoot,
  startLocalEnvironment,
} from '../local/environment.ts';
import { formatStateLine, keyFigure, runLocalBackup } from '../local/run-backup.ts';
import { drillKeyFigure, runLocalDrill } from '../local/run-drill.ts';
import type { StateRecord } from '../local/state-machine-runner.ts';
import { followOnStage } from './stage-run.ts';

export const exitCodes = { ok: 0, failed: 1, usage: 2, verificationFailed: 3, interrupted: 130 } as const;

const usage = `Usage: backupctl <command> [options]

Commands:
  backup [--reason TEXT] [--compression zstd:1]   run the backup state machine, printing each state
  list                                            backups with time, size, verified, SHA-256
  verify <id|latest>                              re-hash the stored dump and read its archive
  restore <id|latest> --target-url URL [--jobs N] verify, then restore into an opted-in database
  status [--write]                                backup status report (RPO, last failure, drill, trend);
                                                  --write puts status.json, BACKUP_STATUS.md, badge.svg in the bucket
  audit [--since 30d]                             executions of both state machines: trigger, steps, causes
  drill [id|latest] [--reason TEXT]               restore drill into a fresh database, with evidence

Where: --local (default: local services, .local/ state) or --stage <stage> [--region R]
  (the stage deployed from config/<stage>.yml, with the default AWS credentials; verify and restore
  still run pg_restore on this machine)
Options: --json (machine-readable output)
Exit codes: 0 ok, 1 failed, 2 usage or configuration error, 3 verification failed;
  130: stopped following with Ctrl-C (the execution on AWS keeps running)`;

/** What the CLI talks to; tests replace the AWS clients and the clock, the binary uses the defaults. */
export interface CliDependencies {
  /** Where config/<stage>.yml lives (the project). */
  root?: string;
  sfn?: (region: string) => SfnApi;
  s3?: (region: string) => S3Client;
  sleep?: Sleep;
  /** Stops following an execution; without it Ctrl-C does. */
  signal?: AbortSignal;
  pollIntervalMs?: number;
}

interface Output {
  json: boolean;
  print(human: string, data: unknown): void;
}

type Values = Record<string, string | boolean | undefined>;
type Place = { kind: 'local' } | { kind: 'stage'; settings: StageSettings };

const commonOptions = ['json', 'local', 'stage', 'region', 'help'];
/** The options each command reads: anything else is a mistake, not something to ignore. */
const commandOptions: Record<string, string[]> = {
  backup: ['reason', 'compression'],
  list: [],
  verify: [],
  restore: ['target-url', 'jobs'],
  status: ['write'],
  audit: ['since'],
  drill: ['reason'],
};

function exitCodeFor(error: unknown): number {
  if (error instanceof BackupError && verificationErrorNames.includes(error.name)) {
    return exitCodes.verificationFailed;
  }
  if (error instanceof InputValidationError || error instanceof ConfigurationError) return exitCodes.usage;
  return exitCodes.failed;
}

/** An execution's verdict as an exit code: its final error name decides, locally and on AWS alike. */
function exitCodeForExecution(execution: { status: string; error?: { name: string } | undefined }): number {
  if (execution.status === 'SUCCEEDED') return exitCodes.ok;
  return verificationErrorNames.includes(execution.error?.name ?? '')
    ? exitCodes.verificationFailed
    : exitCodes.failed;
}

function failureText(error: { name: string; cause: string } | undefined): string {
  return `${error?.name}: ${readableCause(error?.cause ?? '')}`;
}

/** --local or --stage, checked before anything starts: the stage's config is read and validated here. */
function placeOf(values: Values, deps: CliDependencies): Place {
  if (values.local && values.stage !== undefined) {
    throw new InputValidationError('--local and --stage exclude each other: pick where to run', {
      details: { field: '--stage' },
    });
  }
  if (values.stage === undefined) {
    if (values.region !== undefined) {
      throw new InputValidationError('--region only applies with --stage', {
        details: { field: '--region' },
      });
    }
    return { kind: 'local' };
  }
  const region = typeof values.region === 'string' ? values.region : undefined;
  return {
    kind: 'stage',
    settings: loadStageSettings(String(values.stage), deps.root ?? projectRoot, region),
  };
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

function sfnFor(settings: StageSettings, deps: CliDependencies): SfnApi {
  return (deps.sfn ?? createSfnClient)(settings.region);
}

/** The bucket and its history, local or deployed: what list, verify, restore and status read. */
interface Target {
  runtime: Runtime;
  stage: string;
  executions(since: Date): Promise<ExecutionSummary[]>;
}

async function withTarget<T>(place: Place, deps: CliDependencies, work: (target: Target) => Promise<T>) {
  if (place.kind === 'local') {
    return withLocal({ production: false, staging: false }, (environment) => {
      const runtime = runtimeFor(environment);
      return work({
        runtime,
        stage: runtime.settings.STAGE,
        executions: () => readLocalExecutions(environment.stateDir),
      });
    });
  }
  const { settings } = place;
  const api = sfnFor(settings, deps);
  const deployed = new DeployedStage(settings, api, { ...(deps.sleep ? { sleep: deps.sleep } : {}) });
  const bucket = await deployed.bucket();
  const base = getRuntime({
    BACKUP_BUCKET: bucket,
    AWS_REGION: settings.region,
    STAGE: settings.stage,
    RPO_HOURS: String(settings.config.targets.rpoHours),
    RTO_HOURS: String(settings.config.targets.rtoHours),
    ...(settings.config.render
      ? {
          RENDER_POSTGRES_ID: settings.config.render.postgresId,
          RENDER_API_KEY_SECRET_ARN: settings.config.render.apiKeySecretArn,
        }
      : {}),
  });
  // The default credential chain against the real endpoint; uploads get the bucket's default SSE-KMS.
  const client = deps.s3?.(settings.region) ?? createS3Client({ region: settings.region });
  return work({
    runtime: { ...base, store: new BackupStore({ client, bucket }) },
    stage: settings.stage,
    executions: async (since) =>
      readStageExecutions(api, await deployed.stateMachineArns(), since, {
        ...(deps.sleep ? { sleep: deps.sleep } : {}),
      }),
  });
}

function backupInput(values: Values, trigger: 'cli' | 'manual') {
  return parseInput(
    executionInputSchema,
    {
      trigger,
      ...(values.reason !== undefined ? { reason: values.reason } : {}),
      ...(values.compression !== undefined ? { compression: values.compression } : {}),
    },
    'backup options',
  );
}

function drillInput(target: string | undefined, values: Values, trigger: 'cli' | 'manual') {
  return parseInput(
    drillInputSchema,
    {
      trigger,
      backupId: target ?? 'latest',
      ...(values.reason !== undefined ? { reason: values.reason } : {}),
    },
    'drill options',
  );
}

function printState(out: Output, figure: (state: StateRecord) => string) {
  return (state: StateRecord) => {
    if (!out.json) console.log(formatStateLine(state, figure));
  };
}

async function backupCommand(place: Place, values: Values, out: Output, deps: CliDependencies) {
  if (place.kind === 'stage') {
    const input = backupInput(values, 'manual');
    const execution = await followOnStage(place.settings, 'backup', input, {
      api: sfnFor(place.settings, deps),
      deps,
      onState: printState(out, keyFigure),
    });
    if (execution === 'interrupted') return exitCodes.interrupted;
    out.print(
      execution.status === 'SUCCEEDED'
        ? `Backup ${(execution.output as { dump?: { backupId?: string } } | undefined)?.dump?.backupId} verified.`
        : `Backup ${execution.status}: ${failureText(execution.error)}`,
      execution,
    );
    return exitCodeForExecution(execution);
  }
  const input = backupInput(values, 'cli');
  return withLocal({}, async (environment) => {
    const execution = await runLocalBackup(environment, input, { onState: printState(out, keyFigure) });
    out.print(
      execution.status === 'SUCCEEDED'
        ? `Backup ${(execution.output as { dump: { backupId: string } }).dump.backupId} verified.`
        : `Backup failed: ${failureText(execution.error)}`,
      execution,
    );
    return exitCodeForExecution(execution);
  });
}

async function drillCommand(
  place: Place,
  target: string | undefined,
  values: Values,
  out: Output,
  deps: CliDependencies,
) {
  const verdict = (execution: {
    status: string;
    output?: unknown;
    error?: { name: string; cause: string };
  }) => {
    const evidence = (
      execution.output as { evidence?: { evidenceKey: string; markdownKey: string } } | undefined
    )?.evidence;
    out.print(
      execution.status === 'SUCCEEDED'
        ? `Drill passed. Evidence: ${evidence?.evidenceKey} and ${evidence?.markdownKey}`
        : `Drill FAILED: ${failureText(execution.error)}`,
      execution,
    );
    return exitCodeForExecution(execution);
  };
  if (place.kind === 'stage') {
    const execution = await followOnStage(place.settings, 'drill', drillInput(target, values, 'manual'), {
      api: sfnFor(place.settings, deps),
      deps,
      onState: printState(out, drillKeyFigure),
    });
    return execution === 'interrupted' ? exitCodes.interrupted : verdict(execution);
  }
  const input = drillInput(target, values, 'cli');
  return withLocal({ production: false }, async (environment) =>
    verdict(await runLocalDrill(environment, input, { onState: printState(out, drillKeyFigure) })),
  );
}

async function auditCommand(place: Place, values: Values, out: Output, deps: CliDependencies) {
  const since = new Date(Date.now() - parseSince(typeof values.since === 'string' ? values.since : '30d'));
  let executions: ExecutionSummary[];
  if (place.kind === 'stage') {
    const api = sfnFor(place.settings, deps);
    const call = deps.sleep ? { sleep: deps.sleep } : {};
    executions = await readStageExecutions(
      api,
      await new DeployedStage(place.settings, api, call).stateMachineArns(),
      since,
      call,
    );
  } else {
    executions = await readLocalExecutions(resolve(process.env.BACKUP_LOCAL_STATE_DIR ?? defaultStateDir));
  }
  const entries = auditEntries(executions, since);
  out.print(renderAudit(entries), entries);
  return exitCodes.ok;
}

async function listCommand(place: Place, out: Output, deps: CliDependencies): Promise<number> {
  return withTarget(place, deps, async ({ runtime: { store } }) => {
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

async function verifyCommand(place: Place, target: string | undefined, out: Output, deps: CliDependencies) {
  if (!target) throw new InputValidationError('verify needs a backup id or "latest"');
  return withTarget(place, deps, async ({ runtime }) => {
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

async function restoreCommand(
  place: Place,
  target: string | undefined,
  values: Values,
  out: Output,
  deps: CliDependencies,
) {
  if (!target) throw new InputValidationError('restore needs a backup id or "latest"');
  if (typeof values['target-url'] !== 'string') throw new InputValidationError('restore needs --target-url');
  const jobs = values.jobs === undefined ? undefined : Number(values.jobs);
  if (jobs !== undefined && (!Number.isInteger(jobs) || jobs < 1 || jobs > 64)) {
    throw new InputValidationError('--jobs must be a whole number from 1 to 64');
  }
  const connection = parseConnectionUrl(values['target-url'], '--target-url');
  return withTarget(place, deps, async ({ runtime }) => {
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

async function statusCommand(place: Place, values: Values, out: Output, deps: CliDependencies) {
  return withTarget(place, deps, async ({ runtime, stage, executions }) => {
    const now = new Date();
    const checkProvider = providerCheckFor(runtime, now);
    const provider = checkProvider ? await checkProvider() : undefined;
    const options = {
      now,
      rpoHours: runtime.settings.RPO_HOURS,
      rtoHours: runtime.settings.RTO_HOURS,
      executions: await executions(new Date(now.getTime() - 30 * 86_400_000)),
    };
    // The CLI shows a provider problem in the summary; alerting is the status function's job.
    const report = values.write
      ? await publishStatus(runtime.store, {
          ...options,
          stage,
          log: () => undefined,
          ...(provider ? { checkProvider: async () => provider } : {}),
        })
      : await buildStatusReport(runtime.store, { ...options, ...(provider ? { provider } : {}) });
    const written = values.write
      ? `\nWritten: ${statusKeys.json}, ${statusKeys.markdown}, ${statusKeys.badge}`
      : '';
    out.print(`${report.summary}${written}`, report);
    return report.withinRpo ? exitCodes.ok : exitCodes.failed;
  });
}

export async function main(argv: string[], deps: CliDependencies = {}): Promise<number> {
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
        region: { type: 'string' },
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
  const { positionals } = parsed;
  const values = parsed.values as Values;
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
  const allowed = commandOptions[command];
  if (!allowed) {
    console.error(`unknown command "${command}"\n\n${usage}`);
    return exitCodes.usage;
  }
  const stray = Object.keys(values).filter(
    (name) => !commonOptions.includes(name) && !allowed.includes(name),
  );
  if (stray.length > 0) {
    console.error(`${command} does not take ${stray.map((name) => `--${name}`).join(', ')}\n\n${usage}`);
    return exitCodes.usage;
  }
  if (rest.length > 0) {
    console.error(`unexpected arguments: ${rest.join(' ')}\n\n${usage}`);
    return exitCodes.usage;
  }
  try {
    // Flags and the stage's config are checked before anything starts or any AWS API is called.
    if (values.since !== undefined) parseSince(String(values.since));
    const place = placeOf(values, deps);
    switch (command) {
      case 'backup':
        return await backupCommand(place, values, out, deps);
      case 'list':
        return await listCommand(place, out, deps);
      case 'verify':
        return await verifyCommand(place, target, out, deps);
      case 'restore':
        return await restoreCommand(place, target, values, out, deps);
      case 'status':
        return await statusCommand(place, values, out, deps);
      case 'audit':
        return await auditCommand(place, values, out, deps);
      default:
        return await drillCommand(place, target, values, out, deps);
    }
  } catch (error) {
    const name = error instanceof BackupError ? error.name : 'Error';
    const message = describeError(error);
    if (json) console.log(JSON.stringify({ error: name, message }, null, 2));
    else console.error(message);
    return exitCodeFor(error);
  }
}
