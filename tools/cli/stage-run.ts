/**
 * `backupctl backup|drill|restore --stage`: start an execution of the deployed state machine and follow
 * it state by state. Ctrl-C stops the following, never the execution: the ARN and the console link are
 * printed first and again on the way out, so the run can be found and followed elsewhere.
 * `StageMachineRunner` is the stage side of the CLI's one run shape (./machine-runner.ts).
 */

import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { MachineName } from '../../functions/tasks.ts';
import type { StageExecution } from '../../lib/aws/history.ts';
import { executionConsoleUrl, type SfnApi, type Sleep } from '../../lib/aws/sfn.ts';
import { ConfigurationError } from '../../lib/errors.ts';
import type { StateRecord } from '../../lib/report/executions.ts';
import type { BackupStore } from '../../lib/storage/backup-store.ts';
import { followExecution, startExecution } from '../aws/follow.ts';
import { DeployedStage, type StageSettings } from '../aws/stage.ts';
import { createLogsClient, type LogsApi, stageProgressReader } from '../aws/step-progress.ts';
import { StageTargetSecrets } from '../aws/target-secrets.ts';
import { formatStateLine } from '../local/state-lines.ts';
import { paintMark } from './colour.ts';
import type { CliDependencies, Output } from './context.ts';
import type { Execution, MachineRunner, MachineRunOptions } from './machine-runner.ts';
import { type LastDump, stepProgress, type Terminal } from './progress.ts';

export interface StageRunOptions {
  api: SfnApi;
  deps: {
    sleep?: Sleep;
    signal?: AbortSignal;
    pollIntervalMs?: number;
    logs?: (region: string) => LogsApi;
    terminal?: Terminal;
  };
  onState: (state: StateRecord) => void;
  /** --json: no progress line (and no log reads for one). */
  json?: boolean;
  /** The last dump of the database, which the dump's progress percent is estimated from. */
  lastDump?: LastDump | undefined;
  /** Called once the execution exists (it then runs to its end whatever the CLI does). */
  onStarted?: (executionArn: string) => void;
}

export async function followOnStage(
  settings: StageSettings,
  kind: MachineName,
  input: unknown,
  options: StageRunOptions,
): Promise<StageExecution | 'interrupted'> {
  const { api, deps } = options;
  const call = deps.sleep ? { sleep: deps.sleep } : {};
  const arns = await new DeployedStage(settings, api, call).stateMachineArns();
  const arn = arns[kind];
  if (!arn) {
    throw new ConfigurationError(
      `stage "${settings.stage}" has no ${kind} state machine yet: deploy this version (\`npx serverless deploy --stage ${settings.stage}\`)`,
    );
  }
  const started = await startExecution(api, arn, input, call);
  options.onStarted?.(started.executionArn);
  const where = `${started.executionArn}\n  ${executionConsoleUrl(started.executionArn)}`;
  console.error(`Started ${kind} on stage ${settings.stage}: ${where}`);

  const interrupt = new AbortController();
  const onSigint = () => interrupt.abort(new Error('interrupted'));
  if (!deps.signal) process.once('SIGINT', onSigint);
  const signal = deps.signal ?? interrupt.signal;
  // On a terminal, the running step's progress from its log group, as a local run shows it.
  const terminal = deps.terminal ?? process.stderr;
  const progress = stepProgress({
    json: options.json ?? false,
    stream: terminal,
    lastDump: options.lastDump,
  });
  const readProgress =
    !options.json && terminal.isTTY
      ? stageProgressReader(
          (deps.logs ?? createLogsClient)(settings.region),
          settings.stage,
          kind,
          (reason) => terminal.write(`(following state by state: ${reason})\n`),
        )
      : undefined;
  try {
    return await followExecution(
      api,
      { executionArn: started.executionArn, stateMachine: kind, startedAt: started.startedAt },
      {
        ...call,
        signal,
        onState: (state) => {
          progress.finish();
          options.onState(state);
        },
        ...(readProgress
          ? {
              onOpen: async (open: { name: string; enteredAt: number }) => {
                const event = await readProgress(open);
                if (event) progress.log.info('progress', { progress: event });
              },
            }
          : {}),
        ...(deps.pollIntervalMs === undefined ? {} : { pollIntervalMs: deps.pollIntervalMs }),
      },
    );
  } catch (error) {
    if (!signal.aborted) throw error;
    console.error(
      `Stopped following; the execution keeps running on AWS: ${where}\n  (\`backupctl audit --stage ${settings.stage} --since 1d\` shows how it ended)`,
    );
    return 'interrupted';
  } finally {
    process.removeListener('SIGINT', onSigint);
  }
}

/** Prints each state's line as it ends (not with --json, where only the final result is printed). */
export function printState(out: Output, machine: MachineName) {
  return (state: StateRecord) => {
    if (!out.json) console.log(formatStateLine(machine, state, (mark) => paintMark(out.paint, mark)));
  };
}

/** The CLI's runs on a deployed stage: StartExecution, then the execution followed to its end. */
export class StageMachineRunner implements MachineRunner {
  readonly where = 'stage';
  readonly listCommand: string;
  readonly drawsProgress: boolean;
  readonly targetSecrets: StageTargetSecrets;
  readonly #settings: StageSettings;
  readonly #api: SfnApi;
  readonly #deps: CliDependencies;
  readonly #out: Output;
  readonly #vault: () => Promise<BackupStore>;

  constructor(options: {
    settings: StageSettings;
    api: SfnApi;
    deps: CliDependencies;
    out: Output;
    /** The stage's vault (`--database`'s, or the bucket's), read with the operator's credentials. */
    vault: () => Promise<BackupStore>;
    secrets: () => Pick<SecretsManagerClient, 'send'>;
  }) {
    this.#settings = options.settings;
    this.#api = options.api;
    this.#deps = options.deps;
    this.#out = options.out;
    this.#vault = options.vault;
    this.listCommand = `backupctl list --stage ${options.settings.stage}`;
    this.drawsProgress = !options.out.json && (options.deps.terminal ?? process.stderr).isTTY === true;
    this.targetSecrets = new StageTargetSecrets(options.secrets, options.settings.stage);
  }

  vault(): Promise<BackupStore> {
    return this.#vault();
  }

  run(
    machine: MachineName,
    input: unknown,
    options: MachineRunOptions = {},
  ): Promise<Execution | 'interrupted'> {
    return followOnStage(this.#settings, machine, input, {
      api: this.#api,
      deps: this.#deps,
      onState: printState(this.#out, machine),
      json: this.#out.json,
      ...(options.lastDump ? { lastDump: options.lastDump } : {}),
      ...(options.onStarted ? { onStarted: options.onStarted } : {}),
    });
  }
}
