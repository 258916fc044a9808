/**
 * Runs a state machine file from statemachines/ locally with aws-local-stepfunctions. Each Task state
 * is served as the Task table (functions/tasks.ts) says: by the very handler module Lambda runs
 * (functions/<name>/handler.ts), built with a runtime from the settings given here and a log sink that
 * appends its JSON lines to `<stateDir>/logs/steps.log`. Nothing is written to process.env. The native
 * `sns:publish` failure alert goes to an SNS client publish (mocked in tests, recorded to the local
 * alert log otherwise) and then, as the topic's subscription does on AWS, to the alert relay. Errors cross the boundary the way Lambda reports them (Error = the error's
 * name, Cause = {errorType, errorMessage}), so Retry/Catch behave as on AWS. A worker Task state
 * (`codebuild:startBuild.sync`) starts the worker's entry point (functions/worker/handler.ts) as a child
 * process with the environment a build gets, and answers as the integration does: the build on
 * success, States.TaskFailed with the build as Cause when it exits non-zero or is killed. The history
 * of every execution is saved for `backupctl audit`.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { appendFileSync, mkdirSync } from 'node:fs';
import { appendFile, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { DeleteSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import type { Context } from 'aws-lambda';
import { StateMachine, type StateMachineDefinition } from 'aws-local-stepfunctions';
import { z } from 'zod';
import { functions, type MachineName, machineNames, taskOf } from '../../functions/tasks.ts';
import { readRuntimeSettings } from '../../lib/config.ts';
import type { StepHandler } from '../../lib/lambda/handler.ts';
import type { LineSink } from '../../lib/logging.ts';
import type { StateRecord } from '../../lib/report/executions.ts';
import { createRuntime, type Runtime } from '../../lib/runtime.ts';
import { type AwsCaller, awsCaller, platformRequest } from './aws-caller.ts';
import { projectRoot } from './environment.ts';
import { type ProcessIdentity, thisProcess } from './process-identity.ts';
import { onShutdown, stoppingSignal } from './shutdown.ts';

/**
 * Runs around one Task state's handler, for tests that inject a fault: `next` invokes the real
 * handler (optionally with another Lambda context, e.g. one about to time out).
 */
export type TaskWrapper = (
  next: (context?: Partial<Context>) => Promise<unknown>,
  event: unknown,
) => Promise<unknown>;

/** The fields of aws-local-stepfunctions' event log that we read (its EventLog type is not exported). */
interface ExecutionEvent {
  type: string;
  timestamp: number;
  state?: { name: string; output?: unknown };
  Error?: string;
  Cause?: unknown;
}

export type { StateRecord };

export interface ExecutionRecord {
  executionArn: string;
  stateMachine: string;
  input: unknown;
  startedAt: string;
  stoppedAt: string;
  /** ABORTED: a signal stopped the run (error `Interrupted`, naming the signal and the state it stopped). */
  status: 'SUCCEEDED' | 'FAILED' | 'ABORTED';
  output?: unknown;
  error?: { name: string; cause: string };
  /** The signal that stopped the run, when one did (the CLI exits as a shell reports it). */
  interruptedBy?: NodeJS.Signals;
  states: StateRecord[];
}

/** What a run's record says while it runs: which process runs it, and the state it is in. */
export interface RunningRecord {
  executionArn: string;
  stateMachine: string;
  input: unknown;
  startedAt: string;
  status: 'RUNNING';
  runner: ProcessIdentity;
  runningState?: string;
  states: StateRecord[];
}

export interface RunOptions {
  machine: MachineName;
  input: unknown;
  /** The handlers' runtime settings (lib/config.ts), as the environment would carry them on Lambda. */
  settings: Record<string, string>;
  /** Task state name -> a wrapper around its handler (fault injection in tests). */
  wrap?: Partial<Record<string, TaskWrapper>>;
  stateDir: string;
  /** Milliseconds between retries (AWS waits IntervalSeconds with backoff); tests shorten it. */
  retryIntervalMs?: number;
  onState?: (state: StateRecord) => void;
  /** Each step log line as it is written (`backupctl --verbose`). */
  onLogLine?: LineSink;
  /** Called when a worker Task state starts its child process (tests stop or kill it). */
  onWorkerStarted?: (state: string, child: ChildProcess) => void;
  /** Node options for the worker's child process (tests check its AWS requests: test/support/iam/). */
  workerExecArgv?: string[];
  /**
   * The clock of the run: the execution's start and stop times and every step's `Runtime.now` (tests
   * simulate many nights on a clock they move). A worker build, a process of its own, keeps the real one,
   * and so does `$$.Execution.StartTime` (aws-local-stepfunctions sets it; only the drill reads it).
   */
  now?: () => Date;
}

/**
 * The definition as AWS runs it. The file references deployed resources as CloudFormation Fn::Sub
 * placeholders (`${DumpLambdaFunction.Arn}`, `${AlertTopic}`), which serverless-step-functions hands to
 * CloudFormation; here they become local ARNs of the same shape. Nothing else is changed.
 */
export async function loadDefinition(machine: string): Promise<StateMachineDefinition> {
  const text = await readFile(join(projectRoot, 'statemachines', `${machine}.asl.json`), 'utf8');
  return JSON.parse(resolvePlaceholders(text));
}

export function resolvePlaceholders(definitionText: string): string {
  return definitionText
    .replace(/\$\{(\w+)LambdaFunction\.Arn\}/g, 'arn:aws:lambda:us-east-1:000000000000:function:local-$1')
    .replace(/\$\{(\w+)Topic\}/g, 'arn:aws:sns:us-east-1:000000000000:local-$1Topic')
    .replace(/\$\{WorkerProject\}/g, localWorkerProject)
    .replace(/\$\{(\w+)StateMachine\}/g, (_, name: string) => `${localMachinePrefix}${name.toLowerCase()}`);
}

const localMachinePrefix = 'arn:aws:states:us-east-1:000000000000:stateMachine:local-';
const startExecutionResource = 'arn:aws:states:::states:startExecution.sync:2';

/**
 * What the definitions hand the AWS integrations served here (their Parameters), read as the service
 * would: a definition that hands one something else fails its state here, by field.
 */
const integrationInputs = {
  startExecution: z.object({ StateMachineArn: z.string(), Input: z.unknown() }),
  deleteSecret: z.object({ SecretId: z.string() }),
  publish: z.object({ Subject: z.string(), Message: z.string() }),
  startBuild: z.object({
    EnvironmentVariablesOverride: z
      .array(z.object({ Name: z.string(), Value: z.string().optional() }))
      .optional(),
  }),
};

/**
 * A nested execution (`states:startExecution.sync:2`), as AWS runs it: the child machine to its end,
 * then its description with the Output as JSON; a child that failed fails the Task with
 * States.TaskFailed and a Cause holding the child's description, Error and Cause included.
 */
async function runChildExecution(input: unknown, options: RunOptions): Promise<unknown> {
  const { StateMachineArn, Input } = integrationInputs.startExecution.parse(input);
  const machine = machineNames.find((name) => StateMachineArn === `${localMachinePrefix}${name}`);
  if (!machine) throw new Error(`no local state machine for ${StateMachineArn}`);
  const { onState: _parentLines, ...inherited } = options;
  const child = await runStateMachine({ ...inherited, machine, input: Input });
  const description = {
    ExecutionArn: child.executionArn,
    StateMachineArn,
    Input,
    StartDate: child.startedAt,
    StopDate: child.stoppedAt,
    Status: child.status,
  };
  if (child.status === 'SUCCEEDED') return { ...description, Output: child.output };
  const failure = new Error(
    JSON.stringify({
      ...description,
      Input: JSON.stringify(Input),
      Error: child.error?.name,
      Cause: child.error?.cause,
    }),
  );
  failure.name = 'States.TaskFailed';
  throw failure;
}

const localWorkerProject = 'local-worker';
/** The log groups the template gives a function and the worker's builds, by their names on a stage. */
const lambdaLogGroup = (key: string) => `/aws/lambda/local-${key}`;
const workerLogGroup = `/aws/codebuild/${localWorkerProject}`;

/** A log stream created and written to with `caller`'s role, as Lambda and CodeBuild do for a step. */
async function writesLogs(caller: AwsCaller, logGroupName: string): Promise<void> {
  const logStreamName = randomUUID();
  for (const command of ['CreateLogStream', 'PutLogEvents']) {
    await platformRequest({
      caller,
      client: 'CloudWatchLogsClient',
      command,
      input: { logGroupName, logStreamName },
    });
  }
}
const forgetSecretResource = 'arn:aws:states:::aws-sdk:secretsmanager:deleteSecret';

/** The restore machine's ForgetTarget: a local secret file goes away; an ARN goes to Secrets Manager. */
async function forgetSecret(input: unknown, settings: Record<string, string>): Promise<unknown> {
  const { SecretId } = integrationInputs.deleteSecret.parse(input);
  const local = /^local:([A-Za-z0-9_-]{1,100})$/.exec(SecretId);
  if (local?.[1] && settings.LOCAL_SECRETS_DIR) {
    await rm(join(settings.LOCAL_SECRETS_DIR, local[1]), { force: true });
    return { Name: local[1] };
  }
  const result = await new SecretsManagerClient({ region: settings.AWS_REGION ?? 'us-east-1' }).send(
    new DeleteSecretCommand({ SecretId, ForceDeleteWithoutRecovery: true }),
  );
  return { ARN: result.ARN, Name: result.Name };
}
export const workerResource = 'arn:aws:states:::codebuild:startBuild.sync';

interface StateDefinition {
  Type: string;
  TimeoutSeconds?: number;
  Resource?: string;
  Retry?: unknown[];
  Parameters?: { EnvironmentVariablesOverride?: { Name: string; Value?: string }[] };
  Branches?: { States: Record<string, StateDefinition> }[];
  ItemProcessor?: { States: Record<string, StateDefinition> };
}

/** Every state of a definition, those inside Parallel branches and Map iterations included (names are unique). */
export function allStates(states: Record<string, StateDefinition>): [string, StateDefinition][] {
  return Object.entries(states).flatMap(([name, state]) => [
    [name, state] as [string, StateDefinition],
    ...(state.Branches ?? []).flatMap((branch) => allStates(branch.States)),
    ...(state.ItemProcessor ? allStates(state.ItemProcessor.States) : []),
  ]);
}

function lambdaContext(functionName: string, timeoutSeconds: number): Partial<Context> {
  const deadline = Date.now() + timeoutSeconds * 1000;
  return {
    getRemainingTimeInMillis: () => deadline - Date.now(),
    functionName,
    awsRequestId: randomUUID(),
  };
}

/** Where the local runs' step logs go: one JSON line per step start and end, as on CloudWatch. */
export function stepLogPath(stateDir: string): string {
  return join(stateDir, 'logs', 'steps.log');
}

export function stepLogSink(stateDir: string, echo?: LineSink): LineSink {
  const path = stepLogPath(stateDir);
  mkdirSync(join(stateDir, 'logs'), { recursive: true });
  return (line) => {
    appendFileSync(path, `${line}\n`);
    echo?.(line);
  };
}

/** The handler Lambda runs for a function of the Task table, from its own module. */
export async function loadStepHandler(key: keyof typeof functions): Promise<StepHandler<unknown>> {
  const file = join(projectRoot, 'functions', functions[key].dir, 'handler.ts');
  const module = (await import(pathToFileURL(file).href)) as { handler: StepHandler<unknown> };
  return module.handler;
}

/** Lambda reports a thrown error as Error = its name and Cause = JSON with errorType and errorMessage. */
function asLambdaError(error: unknown): Error {
  const name = error instanceof Error ? error.name : 'Error';
  const message = error instanceof Error ? error.message : String(error);
  const failure = new Error(JSON.stringify({ errorType: name, errorMessage: message }));
  failure.name = name;
  return failure;
}

export async function runStateMachine(options: RunOptions): Promise<ExecutionRecord> {
  const definition = await loadDefinition(options.machine);
  const executionArn = `arn:aws:states:local:000000000000:execution:${options.machine}:${randomUUID()}`;
  const states = definition.States as Record<string, StateDefinition>;
  const alertLog = join(options.stateDir, 'alerts.log');
  const now = options.now ?? (() => new Date());

  // Built on first use, inside a step: bad settings fail that step with ConfigurationError, as on Lambda.
  let runtime: Runtime | undefined;
  const runtimeFor = () => {
    runtime ??= createRuntime(readRuntimeSettings(options.settings), { now });
    return runtime;
  };
  const sink = stepLogSink(options.stateDir, options.onLogLine);
  const overrides: Record<string, (input: unknown) => Promise<unknown>> = {};
  const retryIntervals: Record<string, number> = {};
  const machineCaller = { principal: `state-machine:${options.machine}`, settings: options.settings };
  for (const [name, state] of allStates(states)) {
    if (state.Retry) retryIntervals[name] = options.retryIntervalMs ?? 1000;
    if (state.Type !== 'Task') continue;
    if (state.Resource === 'arn:aws:states:::sns:publish') {
      overrides[name] = async (input) => {
        const { Subject, Message } = integrationInputs.publish.parse(input);
        await mkdir(options.stateDir, { recursive: true });
        await appendFile(alertLog, `${now().toISOString()} ${Subject}\n${Message}\n\n`);
        const topicArn = options.settings.ALERT_TOPIC_ARN;
        let messageId = 'local';
        if (topicArn) {
          const result = await awsCaller.run(
            { principal: `state-machine:${options.machine}`, settings: options.settings },
            () =>
              new SNSClient({ region: options.settings.AWS_REGION ?? 'us-east-1' }).send(
                new PublishCommand({ TopicArn: topicArn, Subject, Message }),
              ),
          );
          messageId = result.MessageId ?? '';
        }
        // The alert relay's subscription, as on AWS: after the topic, and its failure is not the run's.
        const relay = (await loadStepHandler('alertRelay')).withDependencies({
          runtime: runtimeFor,
          sink,
          checkOutputs: true,
        });
        await awsCaller
          .run({ principal: 'alertRelay', settings: options.settings }, () =>
            relay({ Records: [{ Sns: { Subject, Message } }] }, {} as Context),
          )
          .catch((error: Error) =>
            appendFile(
              alertLog,
              `${new Date().toISOString()} alert relay failed: ${error.name}: ${error.message}\n\n`,
            ),
          );
        return { MessageId: messageId };
      };
      continue;
    }
    if (state.Resource === startExecutionResource) {
      overrides[name] = async (input) => {
        // Step Functions starts the child with this machine's role.
        const { StateMachineArn } = integrationInputs.startExecution.parse(input);
        await platformRequest({
          caller: machineCaller,
          client: 'SFNClient',
          command: 'StartExecution',
          input: { stateMachineArn: StateMachineArn },
        });
        return runChildExecution(input, options);
      };
      continue;
    }
    if (state.Resource === forgetSecretResource) {
      overrides[name] = (input) =>
        awsCaller.run({ principal: `state-machine:${options.machine}`, settings: options.settings }, () =>
          forgetSecret(input, options.settings),
        );
      continue;
    }
    const task = taskOf(options.machine, name);
    if (!task)
      throw new Error(`Task state ${name} of ${options.machine}.asl.json has no row in functions/tasks.ts`);
    if (task.venue === 'worker') {
      const wrapper = options.wrap?.[name];
      const build = async (input: unknown) => {
        // Step Functions starts and follows the build with this machine's role (`.sync`); CodeBuild
        // writes the build's log lines with the worker's.
        for (const command of ['StartBuild', 'BatchGetBuilds']) {
          await platformRequest({
            caller: machineCaller,
            client: 'CodeBuildClient',
            command,
            input: { projectName: localWorkerProject },
          });
        }
        await writesLogs({ principal: 'worker', settings: options.settings }, workerLogGroup);
        return runWorkerBuild({
          state: name,
          timeoutSeconds: state.TimeoutSeconds ?? 3600,
          environment: { ...options.settings, ...overridesOf(input) },
          sink,
          stateDir: options.stateDir,
          onStarted: (child) => options.onWorkerStarted?.(name, child),
          execArgv: options.workerExecArgv ?? [],
        });
      };
      overrides[name] = (input) => (wrapper ? wrapper(() => build(input), input) : build(input));
      continue;
    }
    // Every answer is checked against its step's contract: a step that breaks it fails here, by name
    // (StepContractError), not two states later.
    const handler = (await loadStepHandler(task.function)).withDependencies({
      runtime: runtimeFor,
      sink,
      checkOutputs: true,
    });
    const wrapper = options.wrap?.[name];
    overrides[name] = async (input) => {
      // Step Functions invokes the function with this machine's role; Lambda writes the function's log
      // lines with the function's.
      await platformRequest({
        caller: machineCaller,
        client: 'LambdaClient',
        command: 'Invoke',
        input: { FunctionName: `local-${task.function}` },
      });
      await writesLogs(
        { principal: task.function, settings: options.settings },
        lambdaLogGroup(task.function),
      );
      // The handler's requests are the function's; a test's wrapper around it is not.
      const invoke = (context: Partial<Context> = {}) =>
        awsCaller.run({ principal: task.function, settings: options.settings }, () =>
          handler(input, {
            ...lambdaContext(task.function, state.TimeoutSeconds ?? 900),
            ...context,
          } as Context),
        );
      try {
        return await (wrapper ? wrapper(invoke, input) : invoke());
      } catch (error) {
        throw asLambdaError(error);
      }
    };
  }

  const startedAt = now();
  const records: StateRecord[] = [];
  // Before the first state: a RUNNING record naming this process, rewritten as each state starts and
  // replaced by the final one. A run killed without a chance to write that (kill -9, a crash, the
  // machine going down) leaves it behind, and readers whose process check finds the run gone show it
  // as ended without a record (lib/report/executions.ts).
  const runner = await thisProcess();
  const runningRecord = (state: string | undefined): RunningRecord => ({
    executionArn,
    stateMachine: options.machine,
    input: options.input,
    startedAt: startedAt.toISOString(),
    status: 'RUNNING',
    runner,
    ...(state ? { runningState: state } : {}),
    states: [...records],
  });
  // One write at a time, in order: the final record is never overwritten by a late RUNNING one.
  let saving = saveExecution(options.stateDir, runningRecord(undefined));
  await saving;
  const saveRunning = (state: string | undefined) => {
    // A record that cannot be rewritten only loses where the run was; the run goes on.
    saving = saving.then(() => saveExecution(options.stateDir, runningRecord(state)).catch(() => undefined));
  };
  const progress: StateProgress = { entered: new Map(), failure: new Map(), caught: new Set() };
  const machine = new StateMachine(definition, { validationOptions: { checkArn: false } });
  const execution = machine.run(options.input as never, {
    overrides: { taskResourceLocalHandlers: overrides as never, retryIntervalOverrides: retryIntervals },
    context: {
      Execution: {
        Id: executionArn,
        Name: executionArn.split(':').pop(),
        Input: options.input,
        StartTime: startedAt.toISOString(),
      },
    } as never,
  });
  // The state running now: a signal stops the run there and names it.
  let running: string | undefined;
  let interrupted: { signal: NodeJS.Signals; state: string | undefined } | undefined;
  const logging = (async () => {
    for await (const event of execution.eventLogs as AsyncGenerator<ExecutionEvent>) {
      if (event.type === 'StateEntered') {
        running = event.state?.name;
        saveRunning(running);
      }
      const record = toStateRecord(event, progress);
      if (record) {
        records.push(record);
        options.onState?.(record);
      }
    }
  })();
  const finished = (async (): Promise<ExecutionRecord> => {
    let output: unknown;
    let failure: { name: string; cause: string } | undefined;
    try {
      output = await execution.result;
    } catch (error) {
      failure = executionFailure(error);
    }
    await logging.catch(() => undefined);
    const record: ExecutionRecord = {
      executionArn,
      stateMachine: options.machine,
      input: options.input,
      startedAt: startedAt.toISOString(),
      stoppedAt: now().toISOString(),
      status: interrupted ? 'ABORTED' : failure ? 'FAILED' : 'SUCCEEDED',
      ...(interrupted
        ? {
            error: {
              name: 'Interrupted',
              cause: `${interrupted.signal} during ${interrupted.state ?? 'the start'}; nothing after it ran`,
            },
            interruptedBy: interrupted.signal,
          }
        : failure
          ? { error: failure }
          : { output }),
      states: records,
    };
    await saving;
    await saveExecution(options.stateDir, record);
    return record;
  })();
  // Ctrl-C or `kill`: no state after the running one starts (the execution is aborted, as StopExecution
  // does on AWS), its record is saved as ABORTED, and only then does the process exit (lib/shutdown.ts).
  const stop = (signal: NodeJS.Signals) => {
    interrupted = { signal, state: running };
    execution.abort();
  };
  const forget = onShutdown(async (signal) => {
    stop(signal);
    await finished.catch(() => undefined);
  });
  // A signal that came while the run was being set up: it stops before its first state.
  const early = stoppingSignal();
  if (early) stop(early);
  try {
    return await finished;
  } finally {
    forget();
  }
}

/** Every execution's record, for `backupctl audit` and the status report (lib/report/executions.ts). */
async function saveExecution(stateDir: string, record: ExecutionRecord | RunningRecord): Promise<void> {
  const historyDir = join(stateDir, 'executions');
  await mkdir(historyDir, { recursive: true });
  const file = join(historyDir, `${record.startedAt.replace(/[:.]/g, '-')}-${record.stateMachine}.json`);
  // Written aside and renamed over: a reader sees the old record or the new one, never half of one.
  await writeFile(`${file}.partial`, `${JSON.stringify(record, null, 2)}\n`);
  await rename(`${file}.partial`, file);
}

/**
 * One record per attempt outcome, as Step Functions' history shows it: a retry or a catch repeats the
 * error of the attempt it follows, and the exit that follows a catch is not a success of the state.
 */
function toStateRecord(event: ExecutionEvent, progress: StateProgress): StateRecord | undefined {
  if (!event.state) return undefined;
  const name = event.state.name;
  if (event.type === 'StateEntered') {
    progress.entered.set(name, event.timestamp);
    progress.failure.delete(name);
    return undefined;
  }
  const start = progress.entered.get(name) ?? event.timestamp;
  const base = { name, startedAt: new Date(start).toISOString(), durationMs: event.timestamp - start };
  if (event.type === 'StateExited') {
    if (progress.caught.delete(name)) return undefined;
    return { ...base, status: 'succeeded', output: event.state.output };
  }
  if (event.type === 'StateFailed') {
    const error = { name: event.Error ?? 'Error', cause: String(event.Cause ?? '') };
    progress.failure.set(name, error);
    return { ...base, status: 'failed', error };
  }
  if (event.type === 'StateRetried' || event.type === 'StateCaught') {
    const error = progress.failure.get(name) ?? { name: 'Error', cause: '' };
    progress.failure.delete(name);
    if (event.type === 'StateCaught') progress.caught.add(name);
    return { ...base, status: event.type === 'StateRetried' ? 'retried' : 'caught', error };
  }
  return undefined;
}

interface StateProgress {
  entered: Map<string, number>;
  /** The error of the attempt that just failed, repeated by the retry or catch that follows it. */
  failure: Map<string, { name: string; cause: string }>;
  caught: Set<string>;
}

function executionFailure(error: unknown): { name: string; cause: string } {
  // ExecutionError wraps the Fail state's error: its message is "Execution has failed with the following error: ..."
  const wrapped = (error as { cause?: { name?: string; message?: string } })?.cause;
  const name = wrapped?.name ?? (error as Error)?.name ?? 'Error';
  const cause = wrapped?.message ?? (error as Error)?.message ?? String(error);
  return { name, cause };
}

/** The build's EnvironmentVariablesOverride, as the integration passes them on to the build. */
function overridesOf(input: unknown): Record<string, string> {
  const variables = integrationInputs.startBuild.parse(input).EnvironmentVariablesOverride;
  return Object.fromEntries((variables ?? []).map(({ Name, Value }) => [Name, Value ?? '']));
}

/** What the local build's child process may see besides its settings: how to find programs and temp. */
function hostEnvironment(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of ['PATH', 'HOME', 'TMPDIR', 'XDG_CACHE_HOME', 'LANG']) {
    const value = process.env[name];
    if (value !== undefined) env[name] = value;
  }
  return env;
}

/**
 * One local "build": the worker entry point in a child process, its stdout and stderr lines in the step
 * log. Resolves with the build as `codebuild:startBuild.sync` returns it; rejects with States.TaskFailed
 * and the build as Cause when the process exits non-zero or is killed (the state's timeout kills it).
 */
function runWorkerBuild(options: {
  state: string;
  timeoutSeconds: number;
  environment: Record<string, string>;
  sink: LineSink;
  stateDir: string;
  onStarted: (child: ChildProcess) => void;
  execArgv: string[];
}): Promise<unknown> {
  const id = `${localWorkerProject}:${randomUUID()}`;
  const startTime = Date.now();
  const entry = join(projectRoot, 'functions', 'worker', 'handler.ts');
  const child = spawn(process.execPath, [...options.execArgv, entry], {
    env: {
      ...hostEnvironment(),
      ...options.environment,
      CODEBUILD_BUILD_ID: id,
      CODEBUILD_START_TIME: String(startTime),
      WORKER_TIMEOUT_SECONDS: options.environment.WORKER_TIMEOUT_SECONDS ?? String(options.timeoutSeconds),
      // This process holds the worker's stdin: if it dies (kill -9), the worker sees it close and
      // stops, writing its last lines to the step log itself (lib/worker/main.ts).
      WORKER_STOPS_WITH_PARENT: 'true',
      WORKER_LOG_FILE: stepLogPath(options.stateDir),
    },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  child.stdin?.on('error', () => undefined);
  const forward = (stream: NodeJS.ReadableStream | null) => {
    let pending = '';
    stream?.on('data', (chunk: Buffer) => {
      const lines = (pending + chunk.toString()).split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) if (line.trim()) options.sink(line);
    });
  };
  forward(child.stdout);
  forward(child.stderr);
  options.onStarted(child);
  // Told to stop, the run stops its worker, which stops its scratch server (lib/worker/main.ts).
  const closed = new Promise<void>((done) => child.once('close', () => done()));
  const forget = onShutdown(async () => {
    child.kill('SIGTERM');
    const kill = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await closed;
    clearTimeout(kill);
  });
  void closed.then(forget);
  const timer = setTimeout(() => {
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
  }, options.timeoutSeconds * 1000);
  timer.unref();
  return new Promise((resolveBuild, rejectBuild) => {
    child.once('error', rejectBuild);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      const build = {
        Id: id,
        Arn: `arn:aws:codebuild:us-east-1:000000000000:build/${id}`,
        ProjectName: localWorkerProject,
        StartTime: new Date(startTime).toISOString(),
        EndTime: new Date().toISOString(),
        Logs: { DeepLink: stepLogPath(options.stateDir) },
      };
      if (code === 0) {
        resolveBuild({ Build: { ...build, BuildStatus: 'SUCCEEDED', CurrentPhase: 'COMPLETED' } });
        return;
      }
      const failure = new Error(
        JSON.stringify({
          ...build,
          BuildStatus: 'FAILED',
          CurrentPhase: 'COMPLETED',
          Phases: [
            {
              PhaseType: 'BUILD',
              PhaseStatus: 'FAILED',
              Contexts: [
                {
                  statusCode: 'COMMAND_EXECUTION_ERROR',
                  message: signal ? `the worker was killed by ${signal}` : `the worker exited with ${code}`,
                },
              ],
            },
          ],
        }),
      );
      failure.name = 'States.TaskFailed';
      rejectBuild(failure);
    });
  });
}
