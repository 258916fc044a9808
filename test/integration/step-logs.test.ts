/**
 * Logs that join up: every JSON line a step, the worker or the alert relay writes during real runs of
 * the state machines (a night on Lambda, a night on the worker, a drill, a failed run and its alert)
 * names the execution it belongs to, and the backup and database wherever the step's input has them,
 * so on-call can pull one night's lines by execution id. Each step invocation, on Lambda or on the worker,
 * also publishes exactly one duration metric with the Stage and Step dimensions (embedded metric format).
 */
import { readFile } from 'node:fs/promises';
import { PublishCommand } from '@aws-sdk/client-sns';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { dashboardByteSteps } from '../../tools/deploy/functions.ts';
import { stepLogPath } from '../../tools/local/state-machine-runner.ts';
import { documentedQueries, fieldsOf } from '../support/logs-insights.ts';
import { sns } from '../support/pipeline-assertions.ts';
import { type PipelineFixture, startPipelineFixture } from '../support/pipeline-fixture.ts';

let fixture: PipelineFixture;
/** Every line of the step log, parsed, after the runs below. */
let lines: Record<string, unknown>[];

beforeAll(async () => {
  // The runs happen here, once, so the SNS mock that takes the failed run's alert is set up here too.
  sns.reset();
  sns.on(PublishCommand).resolves({ MessageId: 'test-message' });
  fixture = await startPipelineFixture();
  const { settings } = await fixture.freshBucket();
  const onLambda = await fixture.run(settings, { machine: 'nightly', input: { trigger: 'schedule' } });
  const onWorker = await fixture.run(
    { ...settings, DUMP_VENUE: 'worker', VERIFY_VENUE: 'worker' },
    { machine: 'nightly', input: { trigger: 'schedule' } },
  );
  const drills = await fixture.run(
    { ...settings, VERIFY_VENUE: 'worker' },
    { machine: 'drills', input: { trigger: 'schedule' } },
  );
  const failed = await fixture.run(settings, { input: { trigger: 'manual', database: 'no_such_database' } });
  expect([onLambda, onWorker, drills, failed].map((run) => [run.status, run.error?.cause])).toEqual([
    ['SUCCEEDED', undefined],
    ['SUCCEEDED', undefined],
    ['SUCCEEDED', undefined],
    ['FAILED', expect.stringContaining('no_such_database')],
  ]);
  const text = await readFile(stepLogPath(fixture.stateDir), 'utf8');
  lines = text
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}, 600_000);
afterAll(async () => {
  sns.restore();
  await fixture?.stop();
});

/** Log lines, not EMF metric objects (those carry `_aws`). */
const logLines = () => lines.filter((line) => !('_aws' in line));
const metricLines = () => lines.filter((line) => '_aws' in line);

describe('the step log of real runs', () => {
  it('covers the steps, the worker and the alert relay', () => {
    const steps = new Set(logLines().map((line) => line.step));
    for (const step of [
      'listDatabases',
      'globals',
      'plan',
      'dump',
      'promote',
      'checksum',
      'verify',
      'notify',
      'workerResult',
      'conclude',
      'listVaults',
      'drillSelectBackup',
      'drillRestore',
      'drillRecordEvidence',
      'drillNotify',
      'alertRelay',
    ]) {
      expect([...steps]).toContain(step);
    }
    expect(logLines().map((line) => line.message)).toContain('worker finished');
  });

  it('gives every line the execution id it belongs to', () => {
    const missing = logLines().filter((line) => typeof line.executionId !== 'string');
    expect(missing.map((line) => `${line.step ?? '(no step)'}: ${line.message}`)).toEqual([]);
    for (const line of logLines()) expect(line.executionId).toMatch(/^arn:aws:states:[^:]+:\d+:execution:/);
  });

  it('names the backup and the database on every line of a step that works on one backup', () => {
    const ofOneBackup = new Set([
      'promote',
      'checksum',
      'verify',
      'notify',
      'drillRestore',
      'drillRecordEvidence',
      'drillNotify',
    ]);
    const missing = logLines().filter(
      (line) =>
        ofOneBackup.has(String(line.step)) &&
        (typeof line.backupId !== 'string' || typeof line.database !== 'string'),
    );
    expect(missing.map((line) => `${line.step}: ${line.message}`)).toEqual([]);
  });

  it('has exactly one duration metric per step invocation, under the Stage and Step dimensions', () => {
    const invocations = logLines()
      .filter((line) => line.message === 'step started')
      .map((line) => `${line.executionId} ${line.step}`)
      .sort();
    const durations = metricLines().filter((line) => 'StepDuration' in line);
    expect(durations.map((line) => `${line.executionId} ${line.Step}`).sort()).toEqual(invocations);
    for (const line of durations) {
      expect(line).toMatchObject({ Stage: 'local', StepDuration: expect.any(Number) });
      expect(line._aws).toMatchObject({ CloudWatchMetrics: [{ Dimensions: [['Stage', 'Step']] }] });
    }
    const bytes = metricLines().filter((line) => 'StepBytes' in line);
    expect([...new Set(bytes.map((line) => line.Step))].sort()).toEqual([
      'checksum',
      'dump',
      'globals',
      'promote',
    ]);
    // The dashboard's "Bytes moved per step" plots exactly these (tools/deploy/functions.ts).
    expect([...new Set(bytes.map((line) => line.Step))].sort()).toEqual([...dashboardByteSteps].sort());
  });

  it("holds every field docs/logs.md's Logs Insights queries read", () => {
    const written = new Set(lines.flatMap((line) => Object.keys(line)));
    const queries = documentedQueries();
    expect(queries).toHaveLength(3);
    for (const { title, query } of queries) {
      expect([title, fieldsOf(query).filter((field) => !written.has(field))]).toEqual([title, []]);
    }
  });
});
