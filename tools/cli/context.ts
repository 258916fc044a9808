/**
 * What every backupctl command shares: where it runs (--local or --stage), how it prints, the exit
 * codes (documented in README and the runbook), and the bucket and history it reads.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { readStageExecutions } from '../../lib/aws/executions.ts';
import { createSfnClient, type SfnApi, type Sleep } from '../../lib/aws/sfn.ts';
import { resolveBackupId } from '../../lib/backup/catalog.ts';
import { vaultOf } from '../../lib/backup/databases.ts';
import { readRuntimeSettings } from '../../lib/config.ts';
import {
  BackupError,
  BackupNotFoundError,
  ConfigurationError,
  InputValidationError,
  verificationErrorNames,
} from '../../lib/errors.ts';
import { type ExecutionSummary, readableCause, readLocalExecutions } from '../../lib/report/executions.ts';
import { createRuntime, type Runtime } from '../../lib/runtime.ts';
import { isDatabaseName } from '../../lib/schemas.ts';
import { BackupStore } from '../../lib/storage/backup-store.ts';
import { createS3Client } from '../../lib/storage/s3-client.ts';
import { DeployedStage, loadStageSettings, type StageSettings } from '../aws/stage.ts';
import type { LogsApi } from '../aws/step-progress.ts';
import { settingsFromStageConfig } from '../deploy/stage-config.ts';
import { awsCaller } from '../local/aws-caller.ts';
import { type LocalEnvironment, projectRoot, startLocalEnvironment } from '../local/environment.ts';
import { isProcessAlive } from '../local/process-identity.ts';
import { onShutdown } from '../local/shutdown.ts';
import type { Paint } from './colour.ts';
import { exitCodes } from './exit-codes.ts';
import type { Terminal } from './progress.ts';

export { exitCodes };

/** What the CLI talks to; tests replace the AWS clients and the clock, the binary uses the defaults. */
export interface CliDependencies {
  /** Where config/<stage>.yml lives (the project). */
  root?: string;
  sfn?: (region: string) => SfnApi;
  s3?: (region: string) => S3Client;
  /** Secrets Manager, where `restore --stage` leaves the target's URL for the worker. */
  secrets?: (region: string) => Pick<SecretsManagerClient, 'send'>;
  sleep?: Sleep;
  /** Stops following an execution; without it Ctrl-C does. */
  signal?: AbortSignal;
  pollIntervalMs?: number;
  /** CloudWatch Logs, where a followed step's progress lines are read (tools/aws/step-progress.ts). */
  logs?: (region: string) => LogsApi;
  /** Where progress lines are drawn; process.stderr when absent. */
  terminal?: Terminal;
  /** false: never colour (tests compare the printed text); otherwise as stdout, NO_COLOR and FORCE_COLOR say. */
  colour?: boolean;
}

export interface Output {
  json: boolean;
  print(human: string, data: unknown): void;
  /** Colour for human output on stdout (tools/cli/colour.ts); plain with --json or off a terminal. */
  paint: Paint;
}

export type Values = Record<string, string | boolean | undefined>;
/** Where a command runs, and for which database's vault (`--database`; absent: the URL's). */
export type Place = ({ kind: 'local' } | { kind: 'stage'; settings: StageSettings }) & { database?: string };

/** Everything a command needs: its arguments, where it runs, how it prints. */
export interface CommandContext {
  target: string | undefined;
  values: Values;
  place: Place;
  out: Output;
  deps: CliDependencies;
}

export function exitCodeFor(error: unknown): number {
  if (error instanceof BackupError && verificationErrorNames.includes(error.name)) {
    return exitCodes.verificationFailed;
  }
  if (error instanceof InputValidationError || error instanceof ConfigurationError) return exitCodes.usage;
  return exitCodes.failed;
}

/** An execution's verdict as an exit code: its final error name decides, locally and on AWS alike. */
export function exitCodeForExecution(execution: {
  status: string;
  error?: { name: string } | undefined;
  interruptedBy?: string | undefined;
}): number {
  if (execution.status === 'SUCCEEDED') return exitCodes.ok;
  // A local run stopped by a signal exits as a shell reports that signal.
  if (execution.interruptedBy === 'SIGINT') return exitCodes.interrupted;
  if (execution.interruptedBy === 'SIGTERM') return exitCodes.terminated;
  return verificationErrorNames.includes(execution.error?.name ?? '')
    ? exitCodes.verificationFailed
    : exitCodes.failed;
}

export function failureText(error: { name: string; cause: string } | undefined): string {
  return `${error?.name}: ${readableCause(error?.cause ?? '')}`;
}

/** A run's last line in bold: green when it succeeded, yellow when a signal stopped it, red otherwise. */
export function paintVerdict(
  out: Output,
  execution: { status: string; interruptedBy?: string | undefined },
  text: string,
): string {
  if (execution.status === 'SUCCEEDED') return out.paint(['bold', 'green'], text);
  return out.paint(['bold', execution.interruptedBy ? 'yellow' : 'red'], text);
}

/**
 * `<What> interrupted by SIGTERM during Dump; nothing after it ran.` for a local run a signal stopped,
 * undefined for any other: an interrupted run never reads as verified, nor as a failure of the pipeline.
 */
export function interruptedText(
  what: string,
  execution: { status: string; interruptedBy?: string | undefined; error?: { cause: string } | undefined },
): string | undefined {
  if (execution.status !== 'ABORTED' || !execution.interruptedBy) return undefined;
  return `${what} interrupted by ${execution.error?.cause}. \`backupctl audit\` lists the run.`;
}

/** --local or --stage, checked before anything starts: the stage's config is read and validated here. */
export function placeOf(values: Values, deps: CliDependencies): Place {
  if (values.local && values.stage !== undefined) {
    throw new InputValidationError('--local and --stage exclude each other: pick where to run', {
      details: { field: '--stage' },
    });
  }
  const database = typeof values.database === 'string' ? values.database : undefined;
  if (database !== undefined && !isDatabaseName(database)) {
    throw new InputValidationError('--database must name a database (1-63 bytes)', {
      details: { field: '--database' },
    });
  }
  const scoped = database === undefined ? {} : { database };
  if (values.stage === undefined) {
    if (values.region !== undefined) {
      throw new InputValidationError('--region only applies with --stage', {
        details: { field: '--region' },
      });
    }
    return { kind: 'local', ...scoped };
  }
  const region = typeof values.region === 'string' ? values.region : undefined;
  return {
    kind: 'stage',
    settings: loadStageSettings(String(values.stage), deps.root ?? projectRoot, region),
    ...scoped,
  };
}

/**
 * Runs a command as the principal its AWS requests are made for: on a stage, the operator (the
 * credentials of whoever runs the CLI, whose policy the stage ships: tools/deploy/operator.ts), named
 * `backupctl <command> --stage` so that tests evaluate each request against that policy.
 */
export function asOperator<T>(command: string, place: Place, work: () => Promise<T>): Promise<T> {
  if (place.kind !== 'stage') return work();
  return awsCaller.run({ principal: `backupctl ${command} --stage`, settings: {} }, work);
}

export async function withLocal<T>(
  need: { production?: boolean; staging?: boolean },
  work: (environment: LocalEnvironment) => Promise<T>,
  /** Told what the local environment does on the way (a first run's seeding). */
  onProgress?: (message: string) => void,
): Promise<T> {
  const environment = await startLocalEnvironment({ need, ...(onProgress ? { onProgress } : {}) });
  const working = work(environment);
  // Told to stop (Ctrl-C, `kill`), the process exits once the command has said how its run ended.
  const forget = onShutdown(() =>
    working.then(
      () => undefined,
      () => undefined,
    ),
  );
  try {
    return await working;
  } finally {
    forget();
    await environment.stop();
  }
}

export function sfnFor(settings: StageSettings, deps: CliDependencies): SfnApi {
  return (deps.sfn ?? createSfnClient)(settings.region);
}

export function callOptions(deps: CliDependencies): { sleep?: Sleep } {
  return deps.sleep ? { sleep: deps.sleep } : {};
}

/** The bucket and its history, local or deployed: what list, verify, restore and status read. */
export interface Target {
  runtime: Runtime;
  stage: string;
  executions(since: Date): Promise<ExecutionSummary[]>;
}

export async function withTarget<T>(
  place: Place,
  deps: CliDependencies,
  work: (target: Target) => Promise<T>,
  /** More runtime settings for a stage (the check reads the production secret, for one). */
  stageSettings: Record<string, string> = {},
): Promise<T> {
  const forVault = async (runtime: Runtime): Promise<Runtime> => ({
    ...runtime,
    store: await vaultFor(runtime.store, place.database),
  });
  if (place.kind === 'local') {
    return withLocal({ production: false, staging: false }, async (environment) => {
      const runtime = await forVault(createRuntime(readRuntimeSettings(environment.settings)));
      return work({
        runtime,
        stage: runtime.settings.STAGE,
        executions: () => readLocalExecutions(environment.stateDir, { isAlive: isProcessAlive }),
      });
    });
  }
  const { settings } = place;
  const api = sfnFor(settings, deps);
  const deployed = new DeployedStage(settings, api, callOptions(deps));
  const bucket = await deployed.bucket();
  // The operator's requests from here on are on this bucket (asOperator).
  const operator = awsCaller.getStore();
  if (operator?.principal.startsWith('backupctl ')) operator.settings.BACKUP_BUCKET = bucket;
  const base = createRuntime(
    readRuntimeSettings({
      BACKUP_BUCKET: bucket,
      AWS_REGION: settings.region,
      STAGE: settings.stage,
      ...settingsFromStageConfig(settings.config, ['all', 'render']),
      ...stageSettings,
    }),
  );
  // The default credential chain against the real endpoint; uploads get the bucket's default SSE-KMS.
  const client = deps.s3?.(settings.region) ?? createS3Client({ region: settings.region });
  return work({
    runtime: await forVault({ ...base, store: new BackupStore({ client, bucket }) }),
    stage: settings.stage,
    executions: async (since) =>
      readStageExecutions(api, await deployed.stateMachineArns(), since, callOptions(deps)),
  });
}

/** The vault of `--database` in a bucket (the bucket's own when none is named). */
export async function vaultFor(store: BackupStore, database: string | undefined): Promise<BackupStore> {
  if (database === undefined) return store;
  try {
    return await vaultOf(store, database);
  } catch (error) {
    // A database name the bucket knows nothing of is the operator's typo: a usage error.
    if (!(error instanceof BackupNotFoundError)) throw error;
    throw new InputValidationError(`--database: ${error.message}`, { details: { field: '--database' } });
  }
}

/**
 * The backup a drill or restore names must exist (and `latest` needs a verified one) before an
 * execution starts: a typo is a usage error at the terminal, not a failed execution and an alert.
 */
export async function checkBackupExists(store: BackupStore, target: string, hint: string): Promise<void> {
  try {
    await resolveBackupId(store, target);
  } catch (error) {
    if (!(error instanceof BackupNotFoundError)) throw error;
    throw new InputValidationError(`${error.message}; \`${hint}\` shows the backups there are`);
  }
}

/** The local vault of a running local environment. */
export function localStore(environment: LocalEnvironment): BackupStore {
  return createRuntime(readRuntimeSettings(environment.settings)).store;
}
