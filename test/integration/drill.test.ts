/**
 * The drill state machine end to end: statemachines/drill.asl.json run by aws-local-stepfunctions with
 * the real handlers, restoring a real backup into a fresh database on the real staging server and
 * writing evidence to a real S3 API. Only SNS is mocked (at the client).
 */
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { mockClient } from 'aws-sdk-client-mock';
import { resolveBackupId } from '../../lib/backup/catalog.ts';
import { type DrillEvidence, parseEvidence } from '../../lib/drill/evidence.ts';
import { RestoreFailedError } from '../../lib/errors.ts';
import type { BackupStore } from '../../lib/storage/backup-store.ts';
import {
  type ExecutionRecord,
  runStateMachine,
  type TaskWrapper,
} from '../../tools/local/state-machine-runner.ts';
import { type PipelineFixture, startPipelineFixture } from '../support/pipeline-fixture.ts';

const recentOrders = JSON.stringify([
  {
    name: 'orders in the last 2 days',
    sql: "SELECT count(*) FROM orders WHERE ordered_at > now() - interval '2 days'",
    atLeast: 1,
  },
]);

const sns = mockClient(SNSClient);

function alerts(): { subject: string; message: string }[] {
  return sns.commandCalls(PublishCommand).map((call) => ({
    subject: String(call.args[0].input.Subject),
    message: String(call.args[0].input.Message),
  }));
}

let fixture: PipelineFixture;
let settings: Record<string, string>;
let store: BackupStore;
let backupId: string;

beforeAll(async () => {
  fixture = await startPipelineFixture();
  ({ settings, store } = await fixture.freshBucket());
  sns.on(PublishCommand).resolves({ MessageId: 'test-message' });
  const backup = await fixture.run(settings);
  expect(backup.status).toBe('SUCCEEDED');
  backupId = (backup.output as { dump: { backupId: string } }).dump.backupId;
}, 180_000);

afterAll(async () => {
  await fixture?.stop();
});

beforeEach(() => {
  sns.reset();
  sns.on(PublishCommand).resolves({ MessageId: 'test-message' });
});

function drill(
  overrides: Record<string, string>,
  options: { input?: unknown; wrap?: Partial<Record<string, TaskWrapper>> } = {},
): Promise<ExecutionRecord> {
  return runStateMachine({
    machine: 'drill',
    input: options.input ?? { trigger: 'manual', reason: 'drill test' },
    ...(options.wrap ? { wrap: options.wrap } : {}),
    settings: { ...settings, ...overrides },
    stateDir: fixture.stateDir,
    retryIntervalMs: 10,
  });
}

async function evidenceOf(
  execution: ExecutionRecord,
): Promise<{ evidence: DrillEvidence; markdown: string }> {
  const select = execution.states.find((s) => s.name === 'SelectBackup');
  const drillId = (select?.output as { selected?: { drillId: string } } | undefined)?.selected?.drillId ?? '';
  expect(drillId).not.toBe('');
  const keys = (await store.list('drills/')).map((o) => o.key).filter((key) => key.includes(drillId));
  const jsonKey = keys.find((key) => key.endsWith('.json')) ?? '';
  const markdownKey = keys.find((key) => key.endsWith('.md')) ?? '';
  expect(jsonKey).toMatch(/^drills\/\d{4}-Q[1-4]\/\d{8}T\d{6}Z-[0-9a-f]{6}\.json$/);
  return {
    evidence: parseEvidence(await store.getText(jsonKey), jsonKey),
    markdown: await store.getText(markdownKey),
  };
}

describe('drill state machine', () => {
  it('restores the newest verified backup onto a fresh scratch server, records passing evidence and removes it', async () => {
    const execution = await drill({ DRILL_SANITY_CHECKS: recentOrders });

    expect(execution.status).toBe('SUCCEEDED');
    expect(execution.states.filter((s) => s.status === 'succeeded').map((s) => s.name)).toEqual([
      'SelectBackup',
      'Checksum',
      'RestoreWhere',
      'RestoreAndCheck',
      'RecordEvidence',
      'DrillPassed',
      'Notify',
      'DrillSucceeded',
    ]);
    const { evidence, markdown } = await evidenceOf(execution);
    expect(evidence).toMatchObject({
      passed: true,
      failedChecks: [],
      backup: { backupId, checksum: 'match', database: 'shop' },
      rpo: { targetHours: 24, withinTarget: true },
      rto: { targetHours: 2, withinTarget: true },
      // A drill proves content wherever the backup recorded it.
      compare: { status: 'match', proof: 'checksums', differences: [] },
      sanity: [{ name: 'orders in the last 2 days', expectation: '>= 1', passed: true }],
    });
    expect(evidence).toMatchObject({
      evidenceVersion: 2,
      restoreTarget: { kind: 'scratch', serverVersion: expect.stringMatching(/^18\./) },
    });
    expect(evidence.compare.tablesCompared).toBeGreaterThan(5);
    expect(evidence.compare.proofLabel).toBe('checksums-v4');
    expect(evidence.sanity[0]?.value).toBeGreaterThan(0);
    // The runbook verifies before it restores, so the checksum pass is part of the observed RTO.
    expect(evidence.rto.checksumSeconds).toBeGreaterThan(0);
    // A disaster starts with no server: starting the fresh one is part of the RTO too.
    expect(evidence.rto.serverStartSeconds).toBeGreaterThan(0);
    expect(evidence.rto.observedSeconds).toBeCloseTo(
      (evidence.rto.checksumSeconds ?? 0) +
        (evidence.rto.serverStartSeconds ?? 0) +
        evidence.rto.downloadSeconds +
        evidence.rto.restoreSeconds +
        evidence.rto.verificationSeconds,
    );
    expect(markdown).toContain(`# Restore drill ${evidence.drillId}: PASSED`);
    expect(markdown).toMatch(/\| row counts and content checksums \| match: \d+ tables, \d+ rows \|/);
    expect(markdown).toContain('| orders in the last 2 days | >= 1 |');
    expect(markdown).toContain('a fresh scratch server, PostgreSQL 18.');
    expect(await fixture.scratchLeftovers()).toEqual([]);
    expect(alerts().map((a) => a.subject)).toEqual([`Restore drill passed: ${evidence.drillId}`]);
  });

  it('fails on a failed sanity check, still records the evidence, removes the scratch server and alerts', async () => {
    const impossible = JSON.stringify([
      { name: 'a trillion orders', sql: 'SELECT count(*) FROM orders', atLeast: 1e12 },
    ]);
    const execution = await drill({ DRILL_SANITY_CHECKS: impossible });

    expect(execution.status).toBe('FAILED');
    expect(execution.error?.name).toBe('DrillCheckFailedError');
    expect(execution.error?.cause).toContain('sanity check "a trillion orders"');
    const { evidence, markdown } = await evidenceOf(execution);
    expect(evidence).toMatchObject({ passed: false, compare: { status: 'match' } });
    expect(evidence.sanity[0]).toMatchObject({ passed: false, expectation: '>= 1000000000000' });
    expect(markdown).toContain('FAILED');
    expect(await fixture.scratchLeftovers()).toEqual([]);
    const [alert] = alerts();
    expect(alert?.subject).toBe('Restore drill FAILED');
    expect(alert?.message).toContain('failed in step RestoreAndCheck');
    expect(alert?.message).toContain('DrillCheckFailedError');
    // Recorded against the backup: it is no longer "latest" until a drill of it passes again.
    await expect(resolveBackupId(store, 'latest')).rejects.toThrow('there is no verified backup yet');
    const again = await drill(
      { DRILL_SANITY_CHECKS: recentOrders },
      { input: { trigger: 'manual', backupId } },
    );
    expect(again.status).toBe('SUCCEEDED');
    expect(await resolveBackupId(store, 'latest')).toBe(backupId);
  });

  it('alerts when the restore itself fails, with nothing left behind', async () => {
    const execution = await drill(
      {},
      {
        wrap: {
          RestoreAndCheck: async () => {
            throw new RestoreFailedError('pg_restore failed (exit 1) with 1 error(s): injected');
          },
        },
      },
    );

    expect(execution.status).toBe('FAILED');
    expect(execution.error?.name).toBe('RestoreFailedError');
    expect(execution.states.some((s) => s.name === 'RecordEvidence')).toBe(false);
    expect(await fixture.scratchLeftovers()).toEqual([]);
    expect(alerts()[0]?.message).toContain('failed in step RestoreAndCheck');
  });

  it('rejects an unknown input field and a malformed DRILL_SANITY_CHECKS, naming the field', async () => {
    // A drill never restores into a database anyone names: no input field can point it at one.
    // (`database` names whose backups to drill, read from the bucket; an unknown one is not found.)
    const badInput = await drill({}, { input: { backupId: 'latest', targetUrl: 'postgresql://staging/db' } });
    expect(badInput.error?.name).toBe('InputValidationError');
    expect(badInput.error?.cause).toContain('field \\"targetUrl\\"');
    const unknownDatabase = await drill({}, { input: { backupId: 'latest', database: 'staging' } });
    expect(unknownDatabase.error?.name).toBe('BackupNotFoundError');
    expect(unknownDatabase.error?.cause).toContain('no backups of database \\"staging\\" in this bucket');

    const badConfig = await drill({ DRILL_SANITY_CHECKS: JSON.stringify([{ name: 'x', sql: 'SELECT 1' }]) });
    expect(badConfig.error?.name).toBe('ConfigurationError');
    expect(badConfig.error?.cause).toContain('DRILL_SANITY_CHECKS[0].atLeast');
    expect(await fixture.scratchLeftovers()).toEqual([]);
  });
});
