/**
 * backupctl --stage against a deployed stage, with only the Step Functions API stubbed at the client.
 * The executions it follows are real: the backup and drill ASL files run by the local runner with the
 * real handlers against real PostgreSQL and a real S3 API, written out as the history AWS records, so
 * the stage display is proven equal to the local one. The bucket is a real s3rver bucket whose name the
 * CLI learns from the state machine's tag, as on AWS.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { GetExecutionHistoryCommand, ListExecutionsCommand, SFNClient } from '@aws-sdk/client-sfn';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { mockClient } from 'aws-sdk-client-mock';
import pg from 'pg';
import { handler as statusHandler } from '../../functions/status/handler.ts';
import type { MachineName } from '../../functions/tasks.ts';
import { newestManifest } from '../../lib/backup/catalog.ts';
import { readRuntimeSettings } from '../../lib/config.ts';
import { ChecksumMismatchError, DatabaseAuthError } from '../../lib/errors.ts';
import { formatBytes } from '../../lib/notify/messages.ts';
import { auditEntries } from '../../lib/report/audit.ts';
import { statusKeys } from '../../lib/report/render.ts';
import { createRuntime } from '../../lib/runtime.ts';
import type { BackupStore } from '../../lib/storage/backup-store.ts';
import { createS3Client } from '../../lib/storage/s3-client.ts';
import { optInStatement } from '../../lib/verify/restore-target-guard.ts';
import { type CliDependencies, exitCodes } from '../../tools/cli/main.ts';
import { runLocalDrill } from '../../tools/local/run-drill.ts';
import { runLocalRestore } from '../../tools/local/run-restore.ts';
import { formatStateLine } from '../../tools/local/state-lines.ts';
import type { ExecutionRecord } from '../../tools/local/state-machine-runner.ts';
import { runCli } from '../support/cli-run.ts';
import { describeDenial, takeDenials } from '../support/iam/enforce.ts';
import { withholdGrant } from '../support/iam/policies.ts';
import { type PipelineFixture, startPipelineFixture } from '../support/pipeline-fixture.ts';
import { historyOf, SfnStub, shiftHistory } from '../support/sfn-stub.ts';

const sns = mockClient(SNSClient);
const dayMs = 86_400_000;

let fixture: PipelineFixture;
let settings: Record<string, string>;
let bucket: string;
let store: BackupStore;
let verified: ExecutionRecord;
let checksumFailed: ExecutionRecord;
let dumpRefused: ExecutionRecord;
let drilled: ExecutionRecord;
let restored: ExecutionRecord;
let targetUrl: string;
let sfn: SfnStub;
let waits: number[];

function deps(extra: Partial<CliDependencies> = {}): CliDependencies {
  return {
    sfn: () => sfn,
    s3: () => createS3Client({ endpoint: settings.AWS_ENDPOINT_URL_S3 }),
    sleep: async (ms) => void waits.push(ms),
    pollIntervalMs: 5,
    ...extra,
  };
}

const run = (argv: string[], options: Partial<CliDependencies> = {}) => runCli(argv, deps(options));

/** What `backupctl backup --local` printed for the same execution. */
const localLines = (record: ExecutionRecord, machine: MachineName = 'backup') =>
  record.states.map((state) => formatStateLine(machine, state));

/** The stub starts an execution by replaying a real one, with the input the CLI actually sent. */
const replay = (record: ExecutionRecord) => (input: unknown) => historyOf({ ...record, input });

beforeAll(async () => {
  fixture = await startPipelineFixture();
  ({ settings, store } = await fixture.freshBucket());
  bucket = settings.BACKUP_BUCKET as string;
  sns.on(PublishCommand).resolves({ MessageId: 'test-message' });
  verified = await fixture.run(settings);
  expect(verified.status).toBe('SUCCEEDED');
  let attempts = 0;
  checksumFailed = await fixture.run(settings, {
    wrap: {
      // One transient fault first, so the history holds a retry as well as the verdict.
      Checksum: async () => {
        if (attempts++ === 0) {
          const fault = new Error('socket hang up');
          fault.name = 'StorageUnavailableError';
          throw fault;
        }
        throw new ChecksumMismatchError('stored object sha256 differs from the manifest');
      },
    },
  });
  expect(checksumFailed.error?.name).toBe('ChecksumMismatchError');
  dumpRefused = await fixture.run(settings, {
    wrap: {
      Dump: async () => {
        throw new DatabaseAuthError('password authentication failed for user "backup"');
      },
    },
  });
  expect(dumpRefused.error?.name).toBe('DatabaseAuthError');
  drilled = await runLocalDrill(
    fixture.environment,
    { trigger: 'manual', backupId: 'latest' },
    {
      settings,
      retryIntervalMs: 10,
    },
  );
  expect(drilled.status).toBe('SUCCEEDED');
  // A restore on the local worker into another server's opted-in database, replayed as the stage's.
  await fixture.stagingSql('CREATE DATABASE restored_here');
  const target = new URL((await fixture.stagingSettings()).STAGING_DATABASE_URL ?? '');
  target.pathname = '/restored_here';
  targetUrl = target.toString();
  const owner = new pg.Client({ connectionString: targetUrl });
  await owner.connect();
  await owner.query(optInStatement('restored_here'));
  await owner.end();
  restored = await runLocalRestore({ ...fixture.environment, settings }, { backupId: 'latest', targetUrl });
  expect(restored.status).toBe('SUCCEEDED');
}, 300_000);

afterAll(async () => {
  await fixture?.stop();
});

beforeEach(() => {
  sfn = new SfnStub({ stage: 'test', bucketTag: bucket });
  waits = [];
});

describe('backupctl backup --stage', () => {
  it('starts a manual execution and prints each state exactly as a local run does, exit 0', async () => {
    sfn.onStart = replay(verified);
    const result = await run(['backup', '--stage', 'test', '--reason', 'before migration 42']);

    expect(result.code).toBe(exitCodes.ok);
    const start = sfn.calls.find((c) => c.constructor.name === 'StartExecutionCommand');
    expect(start?.input).toMatchObject({
      stateMachineArn: sfn.machines.backup,
      input: JSON.stringify({ trigger: 'manual', reason: 'before migration 42' }),
    });
    const backupId = (verified.output as { dump: { backupId: string } }).dump.backupId;
    expect(result.lines).toEqual([...localLines(verified), `Backup ${backupId} verified.`]);
    expect(result.lines[0]).toMatch(/^✔ Plan .* dump on lambda, verify on lambda: /);
    expect(result.lines[2]).toMatch(/^✔ Dump .* tables, \d+ rows, zstd:1, counts and content$/);
    // Followed over several reads of a growing history, each read over several pages.
    expect(sfn.names.filter((n) => n === 'GetExecutionHistoryCommand').length).toBeGreaterThan(5);
    expect(result.stderr).toContain(sfn.executions[0]?.executionArn);
    expect(result.stderr).toContain(
      'https://eu-central-1.console.aws.amazon.com/states/home?region=eu-central-1#/v2/executions/details/arn:aws:states:eu-central-1:',
    );
  });

  it("draws the running step's progress from its log group on a terminal, and says once when it cannot", async () => {
    sfn.onStart = replay(verified);
    const drawn: string[] = [];
    const terminal = { isTTY: true, write: (text: string) => void drawn.push(text) };
    const asked: { logGroupName?: string; startTime?: number }[] = [];
    const logged = Date.now() + 60_000;
    const logs = () => ({
      send: async (command: { input: { logGroupName?: string; startTime?: number } }) => {
        asked.push(command.input);
        const line = JSON.stringify({
          level: 'INFO',
          message: 'progress',
          progress: { phase: 'dump', bytes: 3 * 1024 * 1024 },
        });
        return { events: [{ message: line, timestamp: logged }], $metadata: {} };
      },
    });

    // One new history event per read, so every state is seen running.
    const reveal = sfn.revealPerRead;
    sfn.revealPerRead = 1;
    const result = await run(['backup', '--stage', 'test'], { terminal, logs: logs as never }).finally(() => {
      sfn.revealPerRead = reveal;
    });

    expect(result.code).toBe(exitCodes.ok);
    expect(asked.map((a) => a.logGroupName)).toContain('/aws/lambda/verified-pg-backups-test-dump');
    // Only the steps that report progress are asked about, never Plan or Promote.
    expect(asked.every((a) => /-(dump|checksum|verify)$/.test(a.logGroupName ?? ''))).toBe(true);
    expect(drawn.join('')).toContain('dumping 3.0 MiB');
    // A state's later reads start after the newest line already read, not from the state's start.
    const dumpReads = asked.filter((a) => a.logGroupName?.endsWith('-dump'));
    expect(dumpReads.length).toBeGreaterThan(1);
    expect(dumpReads.slice(1).every((a) => a.startTime === logged + 1)).toBe(true);

    sfn.onStart = replay(verified);
    const refused: string[] = [];
    const denied = () => ({
      send: async () => {
        throw Object.assign(new Error('not authorized'), { name: 'AccessDeniedException' });
      },
    });
    const quiet = await run(['backup', '--stage', 'test'], {
      terminal: { isTTY: true, write: (text: string) => void refused.push(text) },
      logs: denied as never,
    });
    expect(quiet.code).toBe(exitCodes.ok);
    const notes = refused.filter((text) => text.includes('following state by state'));
    expect(notes).toHaveLength(1);
    expect(notes[0]).toMatch(
      /^\(following state by state: AccessDeniedException: step progress needs logs:FilterLogEvents on \/aws\/lambda\/verified-pg-backups-test-(dump|checksum|verify)\)\n$/,
    );
  });

  it("estimates the dump's percent from the stage's last dump, scaled by the database's growth", async () => {
    sfn.onStart = replay(verified);
    const last = await newestManifest(store);
    if (!last) throw new Error('the stage bucket holds no backup');
    // The database doubled since the last dump: tonight's dump heads for about twice the last one.
    const databaseBytes = last.source.databaseSizeBytes * 2;
    const expected = Math.round(last.dump.bytes * 2);
    const bytes = Math.floor(expected / 4);
    const drawn: string[] = [];
    const logs = () => ({
      send: async () => {
        const line = JSON.stringify({
          message: 'progress',
          progress: { phase: 'dump', bytes, databaseBytes },
        });
        return { events: [{ message: line, timestamp: Date.now() }], $metadata: {} };
      },
    });
    const reveal = sfn.revealPerRead;
    sfn.revealPerRead = 1;
    const result = await run(['backup', '--stage', 'test'], {
      terminal: { isTTY: true, write: (text: string) => void drawn.push(text) },
      logs: logs as never,
    }).finally(() => {
      sfn.revealPerRead = reveal;
    });

    expect(result.code).toBe(exitCodes.ok);
    const percent = Math.floor((bytes / expected) * 100);
    expect(drawn.join('')).toContain(
      `dumping ${formatBytes(bytes)} of about ${formatBytes(expected)} (${percent}%)`,
    );
    expect(drawn.join('')).not.toContain(`of about ${formatBytes(databaseBytes)}`);
  });

  it('exits 3 when the execution ends in ChecksumMismatchError, showing the retry and the catch', async () => {
    sfn.onStart = replay(checksumFailed);
    const result = await run(['backup', '--stage', 'test']);

    expect(result.code).toBe(exitCodes.verificationFailed);
    expect(result.lines.slice(0, -1)).toEqual(localLines(checksumFailed));
    expect(result.stdout).toMatch(/↻ Checksum .* StorageUnavailableError/);
    expect(result.stdout).toMatch(/✘ BackupFailed .* ChecksumMismatchError/);
    expect(result.lines.at(-1)).toBe(
      'Backup FAILED: ChecksumMismatchError: stored object sha256 differs from the manifest',
    );
  });

  it('exits 1 when the execution fails for another reason', async () => {
    sfn.onStart = replay(dumpRefused);
    const result = await run(['backup', '--stage', 'test', '--json']);

    expect(result.code).toBe(exitCodes.failed);
    const printed = JSON.parse(result.stdout) as {
      status: string;
      error: { name: string };
      states: unknown[];
    };
    expect(printed).toMatchObject({ status: 'FAILED', error: { name: 'DatabaseAuthError' } });
    expect(printed.states).toHaveLength(dumpRefused.states.length);
  });

  it('waits politely when Step Functions throttles, then follows to the same end', async () => {
    sfn.onStart = replay(verified);
    sfn.throttle = { GetExecutionHistoryCommand: 3, ListStateMachinesCommand: 1 };
    const result = await run(['backup', '--stage', 'test']);

    expect(result.code).toBe(exitCodes.ok);
    expect(result.lines.slice(0, -1)).toEqual(localLines(verified));
    const backoffs = waits.filter((ms) => ms >= 1000);
    expect(backoffs).toEqual([1000, 1000, 2000, 4000]);
  });

  it('on Ctrl-C stops following but not the execution, and says where to find it', async () => {
    sfn.onStart = replay(verified);
    const interrupt = new AbortController();
    let reads = 0;
    const result = await run(['backup', '--stage', 'test'], {
      signal: interrupt.signal,
      sleep: async (_ms, signal) => {
        if (++reads === 2) interrupt.abort(new Error('SIGINT'));
        if (signal?.aborted) throw signal.reason;
      },
    });

    expect(result.code).toBe(exitCodes.interrupted);
    expect(result.stderr).toMatch(/Stopped following; the execution keeps running on AWS: arn:aws:states:/);
    expect(result.stderr).toContain('console.aws.amazon.com/states/home');
    expect(sfn.names.every((n) => !/Stop/.test(n))).toBe(true);
  });
});

describe('backupctl drill --stage', () => {
  it('starts the drill state machine with the backup id and prints the local drill display', async () => {
    sfn.onStart = replay(drilled);
    const result = await run(['drill', 'latest', '--stage', 'test', '--reason', 'quarterly']);

    expect(result.code).toBe(exitCodes.ok);
    expect(sfn.calls.find((c) => c.constructor.name === 'StartExecutionCommand')?.input).toMatchObject({
      stateMachineArn: sfn.machines.drill,
      input: JSON.stringify({ trigger: 'manual', backupId: 'latest', reason: 'quarterly' }),
    });
    expect(result.lines.slice(0, -1)).toEqual(localLines(drilled, 'drill'));
    expect(result.lines.at(-1)).toMatch(
      /^Drill passed\. Evidence: drills\/\d{4}-Q[1-4]\/\S+\.json and \S+\.md$/,
    );
  });
});

/** Secrets Manager as `restore --stage` uses it: records what it is sent, answers like AWS. */
function secretsStub() {
  const sent: { command: string; input: Record<string, unknown> }[] = [];
  return {
    sent,
    client: {
      send: async (command: { constructor: { name: string }; input: Record<string, unknown> }) => {
        sent.push({ command: command.constructor.name, input: command.input });
        return {
          ARN: `arn:aws:secretsmanager:eu-central-1:123456789012:secret:${command.input.Name ?? command.input.SecretId}-AbCdEf`,
          Name: command.input.Name,
        };
      },
    },
  };
}

describe('backupctl check --stage', () => {
  it("checks the stage's production (its secret read with the operator's credentials), bucket and venues", async () => {
    const secrets = mockClient(SecretsManagerClient);
    const production = 'arn:aws:secretsmanager:eu-central-1:123456789012:secret:test/production-AbCdEf';
    const render = 'arn:aws:secretsmanager:eu-central-1:123456789012:secret:test/render-StUvWx';
    secrets
      .on(GetSecretValueCommand, { SecretId: production })
      .resolves({ SecretString: settings.PRODUCTION_DATABASE_URL });
    secrets.on(GetSecretValueCommand, { SecretId: render }).resolves({ SecretString: 'rnd_test_key' });
    try {
      sns.resetHistory();
      const result = await run(['check', '--stage', 'test', '--json', '--send-test-alert']);
      const report = JSON.parse(result.stdout) as {
        checks: { name: string; status: string; detail: string }[];
      };
      const byName = Object.fromEntries(report.checks.map((c) => [c.name, c]));
      expect(byName.production).toMatchObject({
        status: 'pass',
        detail: expect.stringMatching(/^PostgreSQL 18\./),
      });
      expect(byName.privileges?.status).toBe('pass');
      // config/test.yml deploys a scratch server of 18: the deployed layer, not a bundle on this machine.
      expect(byName.scratch).toMatchObject({
        status: 'pass',
        detail: "the stage's scratch server is PostgreSQL 18",
      });
      expect(byName.bucket).toMatchObject({ status: 'pass', detail: expect.stringContaining(bucket) });
      // config/test.yml: venues.verify worker.
      expect(byName.venues?.detail).toMatch(/verification on worker$/);
      // config/test.yml watches a Render database, whose API this machine cannot reach: only that fails.
      expect(report.checks.filter((c) => c.status === 'fail').map((c) => c.name)).toEqual(['render']);
      expect(byName.render?.detail).toContain('unreachable');
      expect(result.code).toBe(exitCodes.failed);
      const asked = secrets.commandCalls(GetSecretValueCommand).map((call) => call.args[0].input.SecretId);
      expect(asked).toEqual([production, render]);
      expect(sfn.names).not.toContain('StartExecutionCommand');
      // The test alert goes to the stage's alert topic, as a failure would.
      expect(byName.alerts?.status).toBe('pass');
      expect(sns.commandCalls(PublishCommand).map((call) => call.args[0].input.TopicArn)).toEqual([
        'arn:aws:sns:eu-central-1:123456789012:verified-pg-backups-test-alerts',
      ]);
    } finally {
      secrets.restore();
    }
  });
});

describe('an id that names no backup', () => {
  it.each([
    ['drill', '20200101T020000Z-abcdef'],
    ['restore', '20200101T020000Z-abcdef'],
  ])(
    '%s %s --stage exits 2 before anything starts: a typo is no failed execution and no alert',
    async (command, id) => {
      sns.resetHistory();
      const secrets = secretsStub();
      const extra = command === 'restore' ? ['--target-url', targetUrl] : [];
      const result = await run([command, id, '--stage', 'test', ...extra], {
        secrets: () => secrets.client as never,
      });

      expect(result.code).toBe(exitCodes.usage);
      expect(result.stderr).toContain(`backup ${id} has no manifest in the vault`);
      expect(result.stderr).toContain('`backupctl list --stage test` shows the backups there are');
      expect(sfn.names).not.toContain('StartExecutionCommand');
      expect(secrets.sent).toEqual([]);
      expect(sns.commandCalls(PublishCommand)).toEqual([]);
    },
  );
});

describe('backupctl restore --stage', () => {
  it('hands the target to the worker as a secret of its own, never in the execution, and follows it', async () => {
    sfn.onStart = replay(restored);
    const secrets = secretsStub();
    const result = await run(
      ['restore', 'latest', '--stage', 'test', '--target-url', targetUrl, '--jobs', '2'],
      {
        secrets: () => secrets.client as never,
      },
    );

    expect(result.code).toBe(exitCodes.ok);
    const [created] = secrets.sent;
    expect(created?.command).toBe('CreateSecretCommand');
    expect(String(created?.input.Name)).toMatch(/^verified-pg-backups\/test\/restore-[0-9a-f]{16}$/);
    expect(created?.input.SecretString).toBe(targetUrl);
    const start = sfn.calls.find((c) => c.constructor.name === 'StartExecutionCommand')?.input as {
      stateMachineArn: string;
      input: string;
    };
    expect(start.stateMachineArn).toBe(sfn.machines.restore);
    expect(JSON.parse(start.input)).toEqual({
      backupId: 'latest',
      jobs: 2,
      targetSecret: `arn:aws:secretsmanager:eu-central-1:123456789012:secret:${created?.input.Name}-AbCdEf`,
      trigger: 'cli',
    });
    const password = new URL(targetUrl).password;
    expect(start.input).not.toContain(password);
    // Once started, the execution owns the secret: its ForgetTarget state deletes it at the end.
    expect(secrets.sent.map((s) => s.command)).toEqual(['CreateSecretCommand']);
    expect(result.lines.slice(0, -1)).toEqual(localLines(restored, 'restore'));
    expect(result.lines.at(-1)).toMatch(
      /restored into restored_here in [\d.]+ s; row counts match \(11 tables, \d+ rows\)\.$/,
    );
    expect(result.stdout + result.stderr).not.toContain(password);
  });

  it('deletes the secret itself when the execution never started', async () => {
    sfn.throttle = { StartExecutionCommand: 100 };
    const secrets = secretsStub();
    const result = await run(['restore', 'latest', '--stage', 'test', '--target-url', targetUrl], {
      secrets: () => secrets.client as never,
    });

    expect(result.code).toBe(exitCodes.failed);
    expect(secrets.sent.map((s) => s.command)).toEqual(['CreateSecretCommand', 'DeleteSecretCommand']);
    expect(secrets.sent[1]?.input).toMatchObject({ ForceDeleteWithoutRecovery: true });
  });
});

describe('backupctl audit --stage', () => {
  it('lists both state machines over several pages, stops at --since, and matches the local audit', async () => {
    const asStage = (record: ExecutionRecord, kind: 'backup' | 'drill', shiftMs: number, name: string) => {
      const executionArn = `${sfn.machines[kind].replace(':stateMachine:', ':execution:')}:${name}`;
      const events = shiftHistory(historyOf(record), -shiftMs);
      sfn.add(kind, events, name);
      const shifted = (iso: string) => new Date(Date.parse(iso) - shiftMs).toISOString();
      return {
        ...record,
        executionArn,
        startedAt: shifted(record.startedAt),
        // On AWS an execution stops at its last event (the local runner notes the time a moment later).
        stoppedAt: new Date(events.at(-1)?.timestamp ?? 0).toISOString(),
        states: record.states.map((s) => ({ ...s, startedAt: shifted(s.startedAt) })),
      };
    };
    const expected = [
      asStage({ ...verified, input: { trigger: 'schedule' } }, 'backup', 1 * dayMs, 'nightly-1'),
      asStage(checksumFailed, 'backup', 2 * dayMs, 'manual-2'),
      asStage({ ...verified, input: { trigger: 'schedule' } }, 'backup', 3 * dayMs, 'nightly-3'),
      asStage(dumpRefused, 'backup', 31 * dayMs, 'too-old'),
      asStage({ ...verified, input: { trigger: 'schedule' } }, 'backup', 40 * dayMs, 'never-read'),
      asStage({ ...drilled, input: { trigger: 'schedule', backupId: 'latest' } }, 'drill', 5 * dayMs, 'q1'),
    ];
    const since = new Date(Date.now() - 30 * dayMs);

    const result = await run(['audit', '--stage', 'test', '--since', '30d', '--json']);

    expect(result.code).toBe(exitCodes.ok);
    const entries = JSON.parse(result.stdout);
    expect(entries).toEqual(auditEntries(expected, since));
    expect(entries.map((e: { trigger: string; status: string }) => [e.trigger, e.status])).toEqual([
      ['schedule', 'SUCCEEDED'],
      ['manual', 'FAILED'],
      ['schedule', 'SUCCEEDED'],
      ['drill (schedule)', 'SUCCEEDED'],
    ]);
    // Pages of two, newest first: the second page reaches the too-old run, so the third is never asked for.
    const backupLists = sfn.calls.filter(
      (c) => c instanceof ListExecutionsCommand && c.input.stateMachineArn === sfn.machines.backup,
    );
    expect(backupLists).toHaveLength(2);
    const histories = sfn.calls.filter((c) => c instanceof GetExecutionHistoryCommand);
    expect(new Set(histories.map((c) => c.input.executionArn)).size).toBe(4);

    const human = await run(['audit', '--stage', 'test']);
    expect(human.stdout).toMatch(/backup\s+FAILED\s+trigger: manual/);
    expect(human.stdout).toContain(
      'cause: ChecksumMismatchError: stored object sha256 differs from the manifest',
    );
    // The operator's --reason is shown (issue 29: the audit dropped it); nothing else of the execution
    // data beyond the trigger: no keys, no database details.
    expect(human.stdout).toMatch(/trigger: manual .*:manual-2\n {4}reason: test\n/);
    expect(human.stdout + result.stdout).not.toMatch(/dumpKey|backups\/\d{4}|"input"/);
  });
});

describe('the deployed status function', () => {
  const sfnClient = mockClient(SFNClient);
  afterAll(() => sfnClient.restore());

  it('reads the stage history itself: a status-change event carries none, and a failed night turns red', async () => {
    // The SDK client the Lambda would use, answered by the stub with AWS-shaped pages and events.
    sfnClient.on(ListExecutionsCommand).callsFake((input) => sfn.send(new ListExecutionsCommand(input)));
    sfnClient
      .on(GetExecutionHistoryCommand)
      .callsFake((input) => sfn.send(new GetExecutionHistoryCommand(input)));
    sfn.add('backup', historyOf({ ...verified, input: { trigger: 'schedule' } }), 'night-1');
    const failed = sfn.add(
      'backup',
      historyOf({ ...checksumFailed, input: { trigger: 'schedule' } }),
      'night-2',
    );
    sfn.add('drill', historyOf(drilled), 'drill-1');
    const lines: string[] = [];
    const status = statusHandler.withDependencies({
      runtime: () =>
        createRuntime(
          readRuntimeSettings({
            ...settings,
            STAGE: 'test',
            AWS_REGION: 'eu-central-1',
            BACKUP_STATE_MACHINE_ARN: sfn.machines.backup,
            DRILL_STATE_MACHINE_ARN: sfn.machines.drill,
            RESTORE_STATE_MACHINE_ARN: sfn.machines.restore,
            NIGHTLY_STATE_MACHINE_ARN: sfn.machines.nightly,
            DRILLS_STATE_MACHINE_ARN: sfn.machines.drills,
          }),
        ),
      sink: (line) => void lines.push(line),
    });
    // What EventBridge delivers when the failed execution ends: its status, never its history.
    const event = {
      version: '0',
      'detail-type': 'Step Functions Execution Status Change',
      source: 'aws.states',
      account: '123456789012',
      region: 'eu-central-1',
      resources: [failed.executionArn],
      detail: {
        executionArn: failed.executionArn,
        stateMachineArn: sfn.machines.backup,
        name: 'night-2',
        status: 'FAILED',
        startDate: failed.startDate.getTime(),
        input: '{"trigger":"schedule"}',
      },
    };

    const result = await status(event, {} as never);

    expect(result).toMatchObject({ state: 'last-run-failed', withinRpo: true });
    const report = JSON.parse((await store.getText(statusKeys.json)) ?? '{}');
    expect(report).toMatchObject({
      state: 'last-run-failed',
      lastFailure: { stateMachine: 'backup', error: 'ChecksumMismatchError' },
      successRate30d: { source: 'executions', runs: 2, succeeded: 1 },
    });
    expect(report.lastFailure.cause).toContain('stored object sha256 differs from the manifest');
    expect(await store.getText(statusKeys.markdown)).toContain('LAST RUN FAILED (ChecksumMismatchError)');
    expect(await store.getText(statusKeys.badge)).toContain('last run failed');
    const metrics = lines.map((line) => JSON.parse(line)).find((line) => '_aws' in line);
    expect(metrics).toMatchObject({ VerificationFailures: 1, BackupAgeHours: expect.any(Number) });
    // Every machine listed, and only the failed run's history read for its cause.
    const listed = sfn.calls.filter((c) => c instanceof ListExecutionsCommand);
    expect(new Set(listed.map((c) => c.input.stateMachineArn))).toEqual(new Set(Object.values(sfn.machines)));
    const histories = sfn.calls.filter((c) => c instanceof GetExecutionHistoryCommand);
    expect(new Set(histories.map((c) => c.input.executionArn))).toEqual(new Set([failed.executionArn]));
  });
});

describe('the operator policy (tools/deploy/operator.ts)', () => {
  // Every request above was evaluated against it; with one grant withheld, the command is refused
  // as AWS would refuse it, and the denial names the command, the action and the resource.
  it('refuses backup --stage without states:StartExecution, naming the command, action and resource', async () => {
    sfn.onStart = replay(verified);
    const restore = withholdGrant('OperatorPolicy', 'states:StartExecution');
    try {
      const result = await run(['backup', '--stage', 'test']);
      expect(result.code).toBe(exitCodes.failed);
      expect(result.stderr).toContain(
        `backupctl backup --stage (OperatorPolicy) is not allowed states:StartExecution on ${sfn.machines.backup}: ImplicitlyDenied`,
      );
      expect(takeDenials().map(describeDenial)).toEqual([
        `backupctl backup --stage (OperatorPolicy) is not allowed states:StartExecution on ${sfn.machines.backup}: ImplicitlyDenied`,
      ]);
      expect(sfn.names).not.toContain('StartExecutionCommand');
    } finally {
      restore();
    }
  });

  it("refuses list --stage without s3:ListBucket on the stage's bucket, the request the real S3 client sent", async () => {
    const restore = withholdGrant('OperatorPolicy', 's3:ListBucket');
    try {
      const result = await run(['list', '--stage', 'test']);
      expect(result.code).not.toBe(exitCodes.ok);
      const denials = takeDenials();
      expect(denials.length).toBeGreaterThan(0);
      expect(denials[0]).toMatchObject({
        principal: 'backupctl list --stage',
        role: 'OperatorPolicy',
        action: 's3:ListBucket',
        resource: `arn:aws:s3:::${bucket}`,
        result: 'ImplicitlyDenied',
      });
    } finally {
      restore();
    }
  });
});

describe('backupctl list / status / verify --stage', () => {
  it('reads the bucket named by the state machine tag with the default client settings', async () => {
    sfn.add('backup', historyOf({ ...verified, input: { trigger: 'schedule' } }));
    sfn.add('backup', historyOf(checksumFailed));

    const list = await run(['list', '--stage', 'test', '--json']);
    expect(list.code).toBe(exitCodes.ok);
    const rows = JSON.parse(list.stdout) as { backupId: string; verified: boolean }[];
    const backupId = (verified.output as { dump: { backupId: string } }).dump.backupId;
    expect(rows.find((r) => r.backupId === backupId)?.verified).toBe(true);
    expect(sfn.names).toEqual([
      'ListStateMachinesCommand',
      'ListStateMachinesCommand',
      'ListTagsForResourceCommand',
    ]);

    const status = await run(['status', '--stage', 'test', '--json']);
    expect(status.code).toBe(exitCodes.ok);
    expect(JSON.parse(status.stdout)).toMatchObject({
      withinRpo: true,
      newestVerified: { backupId },
      successRate30d: { source: 'executions', runs: 2, succeeded: 1 },
      lastFailure: { error: 'ChecksumMismatchError' },
    });

    const verify = await run(['verify', 'latest', '--stage', 'test']);
    expect(verify.code).toBe(exitCodes.ok);
    expect(verify.stdout).toContain(`${backupId}: SHA-256 matches`);

    // --link writes the report into the stage's bucket and hands out a presigned link to its page.
    const linked = await run(['status', '--stage', 'test', '--link', '--json']);
    expect(linked.code).toBe(exitCodes.ok);
    const { link } = JSON.parse(linked.stdout) as { link: string };
    expect(link).toMatch(/\/status\/index\.html\?.*X-Amz-Expires=3600.*X-Amz-Signature=/);
    const page = await fetch(link);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toContain('text/html');
    expect(await page.text()).toContain(`${backupId} (`);
  });

  it('uses bucket.name from the config without asking Step Functions', async () => {
    const root = await mkdtemp(join(tmpdir(), 'stage-config-'));
    try {
      await mkdir(join(root, 'config'));
      await writeFile(
        join(root, 'config', 'named.yml'),
        [
          'region: eu-west-1',
          'databases:',
          '  productionSecretArn: arn:aws:secretsmanager:eu-west-1:123456789012:secret:p-AbCdEf',
          '  stagingSecretArn: arn:aws:secretsmanager:eu-west-1:123456789012:secret:s-AbCdEf',
          'bucket:',
          `  name: ${bucket}`,
        ].join('\n'),
      );
      const regions: string[] = [];
      const list = await run(['list', '--stage', 'named', '--json'], {
        root,
        sfn: (region) => {
          regions.push(region);
          return sfn;
        },
      });
      expect(list.code).toBe(exitCodes.ok);
      expect(JSON.parse(list.stdout).length).toBeGreaterThan(0);
      expect(sfn.calls).toEqual([]);
      expect(regions).toEqual(['eu-west-1']);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it('names a stage that is not deployed in the region, exit 2', async () => {
    const result = await run(['list', '--stage', 'test', '--region', 'us-west-2'], {
      sfn: () => new SfnStub({ stage: 'prod', bucketTag: bucket }),
    });
    expect(result.code).toBe(exitCodes.usage);
    expect(result.stderr).toContain(
      'ConfigurationError: stage "test" is not deployed in us-west-2: no state machine named verified-pg-backups-test-backup or verified-pg-backups-test-drill',
    );
  });
});

describe('backupctl --stage validation', () => {
  it.each([
    [
      ['backup', '--stage', 'test', '--colour'],
      /^backupctl: unknown option --colour \(backupctl help backup/,
    ],
    [
      ['backup', '--stage', 'test', '--local'],
      /InputValidationError: --local and --stage exclude each other/,
    ],
    [['audit', '--stage', 'test', '--since', '30 days'], /InputValidationError: --since must look like 30d/],
    [['list', '--stage', '../etc'], /ConfigurationError: stage "..\/etc" must match/],
    [['list', '--stage', 'prod/x'], /ConfigurationError: stage "prod\/x" must match/],
    [['status', '--stage', 'nope'], /ConfigurationError: config\/nope.yml does not exist/],
    [['list', '--stage', 'test', '--region', 'mars'], /InputValidationError: --region must be an AWS region/],
    [['list', '--region', 'eu-west-1'], /InputValidationError: --region only applies with --stage/],
    [['list', '--stage', 'test', '--since', '1d'], /list does not take --since/],
    [
      ['backup', '--stage', 'test', '--reason', 'two\nlines'],
      /InputValidationError: backup options: field "reason"/,
    ],
    [['drill', 'not-an-id', '--stage', 'test'], /InputValidationError: drill options: field "backupId"/],
  ])('%j exits 2 with a named error before calling AWS', async (argv, message) => {
    const result = await run(argv);
    expect(result.code).toBe(exitCodes.usage);
    expect(result.stderr).toMatch(message);
    expect(sfn.calls).toEqual([]);
  });
});
