/**
 * What every failure path of the pipeline must prove, shared by the pipeline test files: the alert went
 * out through the (mocked) SNS client with the error's name and step, and nothing of the failed run is
 * verified, half-promoted or left as an open multipart upload.
 *
 * The fault matrix (test/integration/faults-*.test.ts) starts each case from a bucket that already holds
 * a verified backup (`seedVerifiedBackup`), snapshots it (`captureBaseline`) and ends with
 * `expectFaultContained` (the run failed, named, alerted, retried only if transient, and left the vault,
 * the uploads and staging as they were) or `expectRecovered` (a transient fault was retried away).
 */
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { afterAll, beforeEach, expect } from '@jest/globals';
import { mockClient } from 'aws-sdk-client-mock';
import { listBackups, newestVerifiedBackup } from '../../lib/backup/catalog.ts';
import { parseManifest } from '../../lib/backup/manifest.ts';
import { quoteIdentifier } from '../../lib/pg/session.ts';
import type { BackupStore } from '../../lib/storage/backup-store.ts';
import { backupIdTime, backupsPrefix, keys, parseBackupKey } from '../../lib/storage/keys.ts';
import { restoreTargetComment } from '../../lib/verify/restore-target-guard.ts';
import type { ExecutionRecord } from '../../tools/local/state-machine-runner.ts';
import { alertTopicArn, type PipelineFixture } from './pipeline-fixture.ts';
import {
  observedOutcome,
  type ReliabilityRecord,
  recordReliability,
  retriesOf,
} from './reliability-recorder.ts';
import { waitFor } from './wait-for.ts';

/** The SNS client as the state machine's native publish and the Notify step use it; reset per test. */
export const sns = mockClient(SNSClient);

/** Each test starts with an empty SNS mock that accepts every publish; the real client is back afterwards. */
export function answerAlertsInEachTest(): void {
  beforeEach(() => {
    sns.reset();
    sns.on(PublishCommand).resolves({ MessageId: 'test-message' });
  });
  afterAll(() => {
    sns.restore();
  });
}

/** Every SNS publish of the test, to whichever topic (the alert topic or the summary topic). */
export function alerts(): { topic: string; subject: string; message: string }[] {
  return sns.commandCalls(PublishCommand).map((call) => ({
    topic: String(call.args[0].input.TopicArn),
    subject: String(call.args[0].input.Subject),
    message: String(call.args[0].input.Message),
  }));
}

/** Nothing from a failed run may look verified, be half-promoted or keep a multipart upload open. */
export async function expectNothingVerifiedOrLeftOver(store: BackupStore): Promise<void> {
  const objects = await store.list('');
  expect(objects.filter((o) => o.key.endsWith('.verification.json'))).toEqual([]);
  expect(objects.filter((o) => o.key.startsWith('backups/'))).toEqual([]);
  expect(await store.listIncompleteUploads('')).toEqual([]);
  recordReliability({
    invariants: ['nothing verified', 'no object under backups/', 'no incomplete multipart upload'],
  });
}

export function expectFailureAlert(execution: ExecutionRecord, errorName: string, step: string): string {
  expect(execution.status).toBe('FAILED');
  // A wrong name is reported with the cause, which says what happened instead.
  if (execution.error?.name !== errorName) expect(execution.error).toEqual({ name: errorName });
  const failure = alerts().find((a) => a.subject.includes('FAILED'));
  expect(failure).toBeDefined();
  expect(failure?.topic).toBe(alertTopicArn);
  expect(failure?.message).toContain(`failed in step ${step}`);
  expect(failure?.message).toContain(errorName);
  recordReliability({
    expectedError: errorName,
    observed: observedOutcome(execution),
    failedStep: step,
    retries: retriesOf(execution),
    invariants: ['named error', 'alert names step and error'],
  });
  return failure?.message ?? '';
}

/** Copies the verified backup of a template bucket (made once per fixture) into `store`. */
const templates = new WeakMap<PipelineFixture, Promise<BackupStore>>();

export async function seedVerifiedBackup(fixture: PipelineFixture, store: BackupStore): Promise<string> {
  let template = templates.get(fixture);
  if (!template) {
    template = (async () => {
      const { settings, store: templateStore } = await fixture.freshBucket();
      const execution = await fixture.run(settings);
      if (execution.status !== 'SUCCEEDED') {
        throw new Error(`the template backup failed: ${JSON.stringify(execution.error)}`);
      }
      return templateStore;
    })();
    templates.set(fixture, template);
  }
  const source = await template;
  // The template's own success alert is not the faulty run's.
  sns.resetHistory();
  for (const object of await source.list(backupsPrefix)) {
    const body = Buffer.concat(await (await source.getStream(object.key)).toArray());
    await store.putObject(object.key, body, 'application/octet-stream');
    if (object.key.endsWith('.dump')) await store.setTags(object.key, await source.getTags(object.key));
  }
  const latest = await newestVerifiedBackup(store);
  if (!latest) throw new Error('the seeded bucket holds no verified backup');
  // Backup ids have one-second resolution: a run in the seed's own second could sort before it.
  const nextSecond = backupIdTime(latest.backupId).getTime() + 1000;
  await waitFor("the clock past the seed's second", () => Date.now() >= nextSecond);
  return latest.backupId;
}

export interface Baseline {
  store: BackupStore;
  /** The newest verified backup before the faulty run. */
  latest: string | undefined;
  /** Keys and sizes under backups/ before the run. */
  vault: Map<string, number>;
  /** `schema.table=rows` of every table in staging, or undefined if staging was not reachable. */
  staging: string[] | undefined;
}

async function stagingFingerprint(fixture: PipelineFixture): Promise<string[] | undefined> {
  if (!fixture.stagingStarted()) return undefined;
  try {
    const rows = await fixture.stagingSql<{ schema: string; table: string }>(
      `SELECT n.nspname AS schema, c.relname AS table
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
        ORDER BY 1`,
    );
    const counted: string[] = [];
    for (const { schema, table } of rows) {
      const [count] = await fixture.stagingSql<{ n: string }>(
        `SELECT count(*)::text AS n FROM ${quoteIdentifier(schema)}.${quoteIdentifier(table)}`,
      );
      counted.push(`${schema}.${table}=${count?.n}`);
    }
    return counted;
  } catch {
    return undefined;
  }
}

/**
 * The vault the run wrote into: the Plan step gives a database whose top-level vault belongs to another
 * database a vault of its own (lib/backup/vault.ts), as when a test seeds the sample database's backup
 * and then backs up another database of the server into the same bucket.
 */
export function vaultOfRun(execution: ExecutionRecord, store: BackupStore): BackupStore {
  const state = execution.states.find((s) => s.name === 'Plan');
  const scope = (state?.output as { plan?: { target?: { scope?: string | null } } } | undefined)?.plan?.target
    ?.scope;
  return scope ? store.forScope(scope) : store;
}

export async function captureBaseline(fixture: PipelineFixture, store: BackupStore): Promise<Baseline> {
  return {
    store,
    latest: (await newestVerifiedBackup(store))?.backupId,
    vault: new Map((await store.list(backupsPrefix)).map((o) => [o.key, o.bytes])),
    staging: await stagingFingerprint(fixture),
  };
}

export interface FaultExpectation {
  area: NonNullable<ReliabilityRecord['area']>;
  fault: string;
  error: string;
  step: string;
  /** Text of the cause the alert must carry. */
  cause: RegExp;
  /** Retries of the failing step: 2 (MaxAttempts) for a transient fault, 0 for a verdict. */
  retries: number;
  /**
   * Staging mode only (scratch servers are checked for leftovers in every case):
   * `untouched`: the fault came before Verify, staging holds what it held (or there is no staging).
   * `opted-in`: the restore ran or was refused; staging is reachable and still opted in.
   * `unreachable`: the test made staging unreachable.
   */
  staging: 'untouched' | 'opted-in' | 'unreachable';
  /** A key under backups/ the test itself broke on purpose (a truncated dump): not counted as a leak. */
  plantedDamage?: string;
}

/**
 * The fault matrix's invariant set: named error, alert with the cause, retries only where transient,
 * nothing verified, no incomplete multipart upload, no partial object under backups/, staging in a
 * known state, and the previous verified backup still "latest".
 */
export async function expectFaultContained(
  fixture: PipelineFixture,
  execution: ExecutionRecord,
  baseline: Baseline,
  expected: FaultExpectation,
): Promise<string> {
  const { store } = baseline;
  const message = expectFailureAlert(execution, expected.error, expected.step);
  expect(message).toMatch(expected.cause);
  expect(retriesOf(execution)[expected.step] ?? 0).toBe(expected.retries);

  const after = await store.list('');
  const vault = after.filter((o) => o.key.startsWith(backupsPrefix));
  const added = vault.filter((o) => baseline.vault.get(o.key) !== o.bytes);
  expect(added.filter((o) => o.key.endsWith('.verification.json'))).toEqual([]);
  for (const object of added) {
    if (!object.key.endsWith('.dump')) continue;
    expect((await store.getTags(object.key)).verified).not.toBe('true');
    if (object.key === expected.plantedDamage) continue;
    // A dump under backups/ is whole: its manifest is beside it and its size is the manifest's.
    const parsed = parseBackupKey(object.key);
    const manifest = parseManifest(await store.getText(keys.manifest(parsed?.backupId ?? '')), object.key);
    expect(object.bytes).toBe(manifest.dump.bytes);
  }
  for (const [key] of baseline.vault) expect(vault.map((o) => o.key)).toContain(key);
  expect(await store.listIncompleteUploads('')).toEqual([]);
  // The run's own vault, when the Plan gave its database one: nothing verified, nothing partial there either.
  const own = vaultOfRun(execution, store);
  if (own !== store) {
    const objects = await own.list(backupsPrefix);
    expect(objects.filter((o) => o.key.endsWith('.verification.json'))).toEqual([]);
    for (const object of objects.filter((o) => o.key.endsWith('.dump'))) {
      expect((await own.getTags(object.key)).verified).not.toBe('true');
      const parsed = parseBackupKey(object.key);
      const manifest = parseManifest(await own.getText(keys.manifest(parsed?.backupId ?? '')), object.key);
      expect(object.bytes).toBe(manifest.dump.bytes);
    }
    expect(await own.listIncompleteUploads('')).toEqual([]);
    expect(await newestVerifiedBackup(own)).toBeUndefined();
  }
  expect((await newestVerifiedBackup(store))?.backupId).toBe(baseline.latest);
  const newest = (await listBackups(store))[0];
  if (newest && newest.backupId !== baseline.latest) expect(newest.verified).toBe(false);

  if (expected.staging === 'untouched') {
    expect(await stagingFingerprint(fixture)).toEqual(baseline.staging);
  } else if (expected.staging === 'opted-in') {
    const [optIn] = await fixture.stagingSql<{ comment: string | null }>(
      "SELECT shobj_description(oid, 'pg_database') AS comment FROM pg_database WHERE datname = 'staging'",
    );
    expect(optIn?.comment).toContain(restoreTargetComment);
  }
  expect(await fixture.scratchLeftovers()).toEqual([]);

  recordReliability({
    area: expected.area,
    fault: expected.fault,
    expectedError: expected.error,
    observed: observedOutcome(execution),
    failedStep: expected.step,
    retries: retriesOf(execution),
    invariants: [
      'named error',
      'alert carries the cause',
      expected.retries > 0 ? `retried ${expected.retries}x (transient)` : 'not retried (verdict)',
      'nothing newly verified',
      'no incomplete multipart upload',
      expected.plantedDamage
        ? 'no partial object under backups/ but the planted one'
        : 'no partial object under backups/',
      `staging ${expected.staging}`,
      'no scratch server or directory left',
      'previous verified backup still latest',
    ],
  });
  return message;
}

/** A transient fault the pipeline retried away: verified, a new latest, nothing left open. */
export async function expectRecovered(
  execution: ExecutionRecord,
  baseline: Baseline,
  expected: { area: NonNullable<ReliabilityRecord['area']>; fault: string; retriedBy: string },
): Promise<void> {
  const store = vaultOfRun(execution, baseline.store);
  expect(execution.error).toBeUndefined();
  expect(execution.status).toBe('SUCCEEDED');
  const latest = await newestVerifiedBackup(store);
  expect(latest?.backupId).not.toBe(baseline.latest);
  expect(await store.getTags(keys.dump(latest?.backupId ?? ''))).toMatchObject({ verified: 'true' });
  expect(await store.listIncompleteUploads('')).toEqual([]);
  expect(await store.list('incoming/')).toEqual([]);
  expect(alerts().map((a) => a.subject)).toEqual([expect.stringContaining('Backup verified')]);
  recordReliability({
    area: expected.area,
    fault: expected.fault,
    expectedError: 'none (recovers)',
    observed: observedOutcome(execution),
    retries: retriesOf(execution),
    invariants: [
      expected.retriedBy,
      'new backup verified and latest',
      'no incomplete multipart upload',
      'incoming/ empty',
      'only the success alert',
    ],
  });
}
