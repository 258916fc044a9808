/**
 * What ships runs: the service is packaged once (config/sandbox.yml: this machine's architecture, a
 * scratch server for verification), and the dump, promote and verify zips each run in a sandbox shaped
 * like Lambda (test/support/lambda-sandbox.ts: only the zip at /var/task and its layers under /opt, a
 * read-only root, a writable /tmp, Lambda's variables and the function's own environment from the
 * packaged template, uid 993) against a real PostgreSQL whose database belongs to a non-superuser, and
 * the local S3 API. The connection URL comes from a Secrets Manager endpoint on loopback; every S3 and
 * Secrets Manager request is evaluated against the function's role (test/support/iam/http-gate.ts).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { buildPgClient, buildPgServer } from '../../layers/pg-client/builder.ts';
import { createS3Client } from '../../lib/storage/s3-client.ts';
import { workerResultKey } from '../../lib/worker/result.ts';
import { workerBuildspec } from '../../tools/deploy/worker.ts';
import { arm64Node } from '../../tools/dev/node-arm64.ts';
import { type PostgresServer, startPostgresServer } from '../../tools/local/postgres-server.ts';
import { type LocalS3Server, startLocalS3Server } from '../../tools/local/s3-server.ts';
import { type AwsGate, startAwsGate } from '../support/iam/http-gate.ts';
import { keyArn, layerArns } from '../support/iam/policies.ts';
import { functionVariables, invokeInSandbox, type SandboxRun } from '../support/lambda-sandbox.ts';
import { type PackagedFunction, type PackagedService, packageService } from '../support/package-service.ts';
import { sql, urlAs } from '../support/sql.ts';
import { runWorkerBuildspec } from '../support/worker-build.ts';

const region = 'eu-central-1';
const bucket = 'sandbox-backups';
const productionSecretArn =
  'arn:aws:secretsmanager:eu-central-1:123456789012:secret:sandbox/production-AbCdEf';
const executionId =
  'arn:aws:states:eu-central-1:123456789012:execution:verified-pg-backups-sandbox-backup:night-1';

let service: PackagedService;
let s3: LocalS3Server;
let gate: AwsGate;
let server: PostgresServer;
let stateDir: string;
const measured: Record<string, number> = {};

/** The function's own environment from the template, its stack references and endpoints made local. */
function environmentOf(fn: PackagedFunction): Record<string, string> {
  return {
    ...functionVariables(fn, { BACKUP_BUCKET: bucket, KMS_KEY_ID: keyArn }),
    AWS_ENDPOINT_URL_S3: gate.endpoint,
    AWS_ENDPOINT_URL_SECRETS_MANAGER: gate.endpoint,
  };
}

async function invoke(
  fn: PackagedFunction,
  event: unknown,
  layers?: string[],
  node?: { path: string; arch: 'arm64' },
): Promise<SandboxRun> {
  const environment = environmentOf(fn);
  gate.caller = { principal: fn.key, settings: environment };
  try {
    return await invokeInSandbox(fn, {
      event,
      environment,
      region,
      ...(layers ? { layers } : {}),
      ...(node ? { node } : {}),
    });
  } finally {
    gate.caller = undefined;
  }
}

/** The step's own log lines (Powertools' JSON): what it said when it ended. */
const ended = (run: SandboxRun) =>
  run.lines
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((line) => line.message === 'step succeeded' || line.message === 'step failed');

async function keysUnder(prefix: string): Promise<string[]> {
  const listed = await createS3Client({ endpoint: s3.endpoint, region }).send(
    new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }),
  );
  return (listed.Contents ?? []).map((object) => object.Key ?? '').sort();
}

beforeAll(async () => {
  service = await packageService('sandbox');
  measured.packageSeconds = service.seconds;
  stateDir = mkdtempSync(join(tmpdir(), 'lambda-sandbox-test-'));
  s3 = await startLocalS3Server({ directory: join(stateDir, 's3'), buckets: [bucket] });
  server = await startPostgresServer({ dataDir: join(stateDir, 'pg') });
  await sql(
    server.url('postgres'),
    "CREATE ROLE owner LOGIN PASSWORD 'owner-password' NOSUPERUSER NOCREATEDB NOCREATEROLE",
    'CREATE DATABASE shop OWNER owner',
  );
  await sql(
    urlAs(server, 'owner', 'owner-password', 'shop'),
    'CREATE TABLE items (id bigint PRIMARY KEY, name text, price numeric(10,2))',
    "INSERT INTO items SELECT i, 'item ' || i, i * 1.25 FROM generate_series(1, 500) i",
    // Named zones, a current and a legacy one: restoring the rows checks them, on a scratch server whose
    // sandbox has no /usr/share/zoneinfo, so only the layer's own time zone data can answer.
    `CREATE TABLE orders (id bigint PRIMARY KEY, item bigint REFERENCES items, at timestamptz,
       CHECK (at AT TIME ZONE 'Europe/Berlin' > at AT TIME ZONE 'US/Pacific'))`,
    "INSERT INTO orders SELECT i, 1 + i % 500, timestamptz '2026-01-01' + i * interval '1 minute' FROM generate_series(1, 2000) i",
  );
  // The worker's build fetches the worker function's zip and its layers with the Lambda API.
  const worker = service.lambda('worker');
  const layerArnOf = (zip: string) =>
    basename(zip).startsWith('pg-client-') ? layerArns.PgClientLambdaLayer : layerArns.PgServerLambdaLayer;
  gate = await startAwsGate({
    s3Endpoint: s3.endpoint,
    secrets: { [productionSecretArn]: urlAs(server, 'owner', 'owner-password', 'shop') },
    lambda: {
      functions: {
        [worker.functionName]: { key: 'worker', zip: worker.zip, layerArns: worker.layers.map(layerArnOf) },
      },
      layers: Object.fromEntries(worker.layers.map((zip) => [layerArnOf(zip), zip])),
    },
  });
}, 900_000);

afterAll(async () => {
  await gate?.stop();
  await server?.stop();
  await s3?.stop();
  service?.remove();
  if (stateDir) rmSync(stateDir, { recursive: true, force: true });
  // The figures the docs quote (docs/deploy.md, "What the Lambda sandbox test proves").
  console.log(`lambda sandbox: ${JSON.stringify(measured)}`);
});

describe('the packaged Lambda zips in a sandbox shaped like Lambda', () => {
  it('dump writes a backup and its manifest, promote moves them, verify proves them on a scratch server from the layer', async () => {
    const dump = service.lambda('dump');
    const promote = service.lambda('promote');
    const verify = service.lambda('verify');
    // What the template attaches: the client layer to dump, both layers to verify, none to promote.
    expect(dump.layers.map((path) => path.split('/').pop())).toEqual(['pg-client-18-x86_64.zip']);
    expect(verify.layers.map((path) => path.split('/').pop())).toEqual([
      'pg-client-18-x86_64.zip',
      'pg-server-18-x86_64.zip',
    ]);
    expect(promote.layers).toEqual([]);
    for (const fn of [dump, promote, verify]) {
      measured[`${fn.key}ZipBytes`] = statSync(fn.zip).size;
      for (const layer of fn.layers) measured[`${basename(layer)}Bytes`] = statSync(layer).size;
    }
    // The connection comes from Secrets Manager: the function gets the secret's ARN, never a URL.
    expect(dump.environment.PRODUCTION_DATABASE_SECRET_ARN).toBe(productionSecretArn);
    expect(dump.environment.PRODUCTION_DATABASE_URL).toBeUndefined();

    const dumped = await invoke(dump, { execution: { trigger: 'manual' }, executionId });
    measured.dumpSeconds = dumped.seconds;
    expect(dumped.outcome).toEqual({
      ok: true,
      result: expect.objectContaining({ backupId: expect.any(String) }),
    });
    const { backupId } = (dumped.outcome as { result: { backupId: string } }).result;
    expect(await keysUnder('incoming/')).toEqual([
      `incoming/${backupId}.dump`,
      `incoming/${backupId}.manifest.json`,
    ]);
    expect(ended(dumped)).toEqual([
      expect.objectContaining({ level: 'INFO', step: 'dump', message: 'step succeeded' }),
    ]);

    const promoted = await invoke(promote, { backupId, executionId });
    measured.promoteSeconds = promoted.seconds;
    expect(promoted.outcome).toMatchObject({ ok: true });

    const verified = await invoke(verify, { backupId, executionId });
    measured.verifySeconds = verified.seconds;
    expect(verified.outcome).toEqual({
      ok: true,
      result: expect.objectContaining({
        target: 'scratch',
        serverVersion: expect.stringMatching(/^18\./),
        compare: { status: 'match', proof: 'checksums', tablesCompared: 2, rowsCompared: 2500 },
      }),
    });
    // The scratch server and the download are gone from /tmp.
    expect(verified.tmpLeft).toEqual([]);
    // Lambda's limit for a function's code and its layers, unzipped: 250 MB.
    measured.dumpUnzippedBytes = dumped.unzippedBytes;
    measured.verifyUnzippedBytes = verified.unzippedBytes;
    expect(verified.unzippedBytes).toBeLessThan(250 * 1024 * 1024);

    // Every request was one the function's role allows, and each function made its own kind.
    expect(gate.denials).toEqual([]);
    // The dump: the secret by its ARN, an earlier attempt's uploads, then the dump and its manifest
    // (one PutObject each at this size; a larger dump goes part by part).
    expect(gate.requests.filter((line) => line.startsWith('dump '))).toEqual([
      `dump SecretsManagerClient.GetSecretValue ${productionSecretArn}`,
      `dump S3Client.ListMultipartUploads ${bucket}`,
      `dump S3Client.PutObject ${bucket}/incoming/${backupId}.dump`,
      `dump S3Client.PutObject ${bucket}/incoming/${backupId}.manifest.json`,
    ]);
    expect(gate.requests).toEqual(
      expect.arrayContaining([
        expect.stringMatching(
          new RegExp(`^verify S3Client\\.GetObject ${bucket}/backups/.*/${backupId}\\.dump$`),
        ),
      ]),
    );
  }, 600_000);

  it('the worker build fetches its bundle and layers with the Lambda API as the worker role, then verifies on them', async () => {
    const worker = service.lambda('worker');
    const project = service.template.Resources.WorkerProject?.Properties as {
      Source: { BuildSpec: string };
      Environment: { EnvironmentVariables: unknown[] };
    };
    expect(project.Source.BuildSpec).toBe(workerBuildspec);
    // The project's variables as CodeBuild sets them, conditions settled like a function's.
    const variables: Record<string, unknown> = {};
    for (const entry of project.Environment.EnvironmentVariables) {
      const branches = (entry as { 'Fn::If'?: [string, { Name: string; Value: unknown }, unknown] })[
        'Fn::If'
      ];
      const variable = (branches ? branches[1] : entry) as { Name: string; Value: unknown };
      variables[variable.Name] = branches
        ? { 'Fn::If': [branches[0], variable.Value, { Ref: 'AWS::NoValue' }] }
        : variable.Value;
    }
    const projectVariables = functionVariables(
      { ...worker, environment: variables },
      { BACKUP_BUCKET: bucket, KMS_KEY_ID: keyArn },
    );
    expect(projectVariables.WORKER_FUNCTION).toBe(worker.functionName);
    const backup = (await keysUnder('backups/')).find((key) => key.endsWith('.dump'));
    const backupId = /([^/]+)\.dump$/.exec(backup ?? '')?.[1] ?? '';
    const buildId = 'verified-pg-backups-sandbox-worker:00000000-0000-4000-8000-000000000002';
    const environment = {
      ...projectVariables,
      // What CodeBuild and the state machine's EnvironmentVariablesOverride add for one Verify build.
      CODEBUILD_BUILD_ID: buildId,
      CODEBUILD_START_TIME: String(Date.now()),
      WORKER_TASK: 'verify',
      WORKER_STATE: 'Verify',
      WORKER_EXECUTION: 'night-1',
      WORKER_EVENT: JSON.stringify({ backupId, executionId }),
      AWS_REGION: region,
      AWS_DEFAULT_REGION: region,
      AWS_ACCESS_KEY_ID: 'ASIASANDBOXSANDBOX00',
      AWS_SECRET_ACCESS_KEY: 'sandbox-secret-access-key',
      AWS_ENDPOINT_URL_S3: gate.endpoint,
      AWS_ENDPOINT_URL_SECRETS_MANAGER: gate.endpoint,
      AWS_ENDPOINT_URL_LAMBDA: gate.endpoint,
    };
    const before = gate.requests.length;
    gate.caller = { principal: 'worker', settings: environment };
    let build: Awaited<ReturnType<typeof runWorkerBuildspec>>;
    try {
      build = await runWorkerBuildspec(project.Source.BuildSpec, environment);
    } finally {
      gate.caller = undefined;
    }
    measured.workerBuildSeconds = build.seconds;
    expect({
      exitCode: build.exitCode,
      phase: build.phase,
      said: build.exitCode === 0 ? [] : build.lines.slice(-20),
    }).toEqual({ exitCode: 0, phase: 'build', said: [] });
    // The Lambda API calls of the buildspec, each allowed to the worker's role: the function twice
    // (its code, then its layers), each layer once.
    const requests = gate.requests.slice(before);
    expect(requests.filter((line) => line.includes('LambdaClient'))).toEqual([
      `worker LambdaClient.GetFunction ${worker.functionName}`,
      `worker LambdaClient.GetFunction ${worker.functionName}`,
      `worker LambdaClient.GetLayerVersionByArn ${layerArns.PgClientLambdaLayer}`,
      `worker LambdaClient.GetLayerVersionByArn ${layerArns.PgServerLambdaLayer}`,
    ]);
    expect(gate.denials).toEqual([]);
    // The worker verified the backup on the scratch server of the layer (its own time zones) and
    // wrote its result record.
    const resultKey = workerResultKey('night-1', 'Verify', buildId);
    expect(await keysUnder('worker/')).toEqual([resultKey]);
    const record = await createS3Client({ endpoint: s3.endpoint, region }).send(
      new GetObjectCommand({ Bucket: bucket, Key: resultKey }),
    );
    expect(
      JSON.parse(await (record.Body as { transformToString(): Promise<string> }).transformToString()),
    ).toEqual(
      expect.objectContaining({
        outcome: 'succeeded',
        task: 'verify',
        output: expect.objectContaining({
          target: 'scratch',
          compare: { status: 'match', proof: 'checksums', tablesCompared: 2, rowsCompared: 2500 },
        }),
      }),
    );
  }, 600_000);

  it('the dump and verify zips run on arm64 with the arm64 layers, under qemu, end to end', async () => {
    // Lambda's default architecture here is arm64. The function zips are the same JavaScript for both
    // (esbuild bundles, no native module: checked below), so the x86_64 package's zips stand for the
    // arm64 package's; what differs is Node and the layers: the aarch64 Node 22 of the same release
    // (tools/dev/node-arm64.ts) and the arm64 pg-client and pg-server layers an arm64 stage attaches
    // (the pgvector server, which the arm64 bundles test builds too: a verification needs no
    // extension, and the layer offers more than it needs).
    const node = { path: await arm64Node(), arch: 'arm64' as const };
    const client = await buildPgClient({ major: 18, arch: 'arm64' });
    const server = await buildPgServer({ major: 18, arch: 'arm64', extensions: ['pgvector'] });
    const clientZip = client.distZipPath ?? client.zipPath;
    const serverZip = server.distZipPath ?? server.zipPath;
    const dump = service.lambda('dump');
    const promote = service.lambda('promote');
    const verify = service.lambda('verify');
    for (const fn of [dump, verify]) {
      const entries = execFileSync('unzip', ['-Z1', fn.zip], { encoding: 'utf8' }).split('\n');
      expect(entries.filter((entry) => entry.endsWith('.node'))).toEqual([]);
    }

    const dumped = await invoke(dump, { execution: { trigger: 'manual' }, executionId }, [clientZip], node);
    measured.arm64DumpSeconds = dumped.seconds;
    expect(dumped.outcome).toEqual({
      ok: true,
      result: expect.objectContaining({ backupId: expect.any(String) }),
    });
    // The runtime said which Node ran the step, and on which architecture.
    expect(dumped.lines).toContain('INIT_START Runtime Version: nodejs:22.23.3 arm64');
    const { backupId } = (dumped.outcome as { result: { backupId: string } }).result;
    // Promote moves objects only (no program, no layer): the x86_64 run stands for it.
    expect((await invoke(promote, { backupId, executionId })).outcome).toMatchObject({ ok: true });

    const verified = await invoke(verify, { backupId, executionId }, [clientZip, serverZip], node);
    measured.arm64VerifySeconds = verified.seconds;
    expect(verified.lines).toContain('INIT_START Runtime Version: nodejs:22.23.3 arm64');
    expect(verified.outcome).toEqual({
      ok: true,
      result: expect.objectContaining({
        target: 'scratch',
        serverVersion: expect.stringMatching(/^18\./),
        compare: { status: 'match', proof: 'checksums', tablesCompared: 2, rowsCompared: 2500 },
      }),
    });
    expect(verified.tmpLeft).toEqual([]);
    expect(gate.denials).toEqual([]);
  }, 1_800_000);

  it('fails by name, not green, when a zip runs without its layer', async () => {
    const dump = service.lambda('dump');
    const verify = service.lambda('verify');
    const before = await keysUnder('incoming/');

    // No pg-client layer: nothing under /opt can run pg_dump.
    const dumped = await invoke(dump, { execution: { trigger: 'manual' }, executionId }, []);
    expect(dumped.outcome).toEqual({
      ok: false,
      errorType: 'PgClientVersionError',
      errorMessage: expect.stringContaining('newer than every available client (none)'),
    });
    expect(ended(dumped)).toEqual([
      expect.objectContaining({ level: 'ERROR', message: 'step failed', errorName: 'PgClientVersionError' }),
    ]);
    // Nothing was written for it.
    expect(await keysUnder('incoming/')).toEqual(before);

    // The verify zip with the client layer only: no scratch server to restore into (the backup is the
    // one the first test made and verified).
    const backup = (await keysUnder('backups/')).find((key) => key.endsWith('.dump'));
    const backupId = /([^/]+)\.dump$/.exec(backup ?? '')?.[1] ?? '';
    const verified = await invoke(verify, { backupId, executionId }, verify.layers.slice(0, 1));
    expect(verified.outcome).toMatchObject({ ok: false, errorType: 'ScratchServerVersionError' });

    expect(gate.denials).toEqual([]);
  }, 600_000);
});
