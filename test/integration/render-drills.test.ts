/**
 * Render's second line in the quarterly drills, through the real statemachines/drills.asl.json: after
 * our own drills, RenderDrill runs on the (local) worker, a child process with the environment a
 * CodeBuild build gets and the worker role's IAM enforced; it downloads Render's newest export from a
 * local HTTPS server that answers like Render's API (a real pg_dump -Fd of production, tarred and
 * gzipped), restores it on a scratch server and compares it with our verified backup. A stage that
 * does not watch Render skips it, saying why. A failed Render drill alerts on its own (native SNS
 * publish, mocked at the client) and leaves our drills' verdict alone. Neither the API key nor the
 * signed link appears in any output, record, alert or log.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { clientForServer } from '../../lib/pg/client.ts';
import { parseConnectionUrl } from '../../lib/pg/connection.ts';
import { runPgProcess } from '../../lib/pg/process.ts';
import type { RenderDrillRecord } from '../../lib/provider/render-drill.ts';
import type { BackupStore } from '../../lib/storage/backup-store.ts';
import type { ExecutionRecord } from '../../tools/local/state-machine-runner.ts';
import { stepLogPath } from '../../tools/local/state-machine-runner.ts';
import { alerts, answerAlertsInEachTest } from '../support/pipeline-assertions.ts';
import { alertTopicArn, type PipelineFixture, startPipelineFixture } from '../support/pipeline-fixture.ts';
import { json, type RenderApi, startRenderApi } from '../support/render-api.ts';

answerAlertsInEachTest();

const apiKey = 'rnd_CANARYquarterlyKey42';
const postgresId = 'dpg-quarterly01';

let fixture: PipelineFixture;
let render: RenderApi;
let settings: Record<string, string>;
let store: BackupStore;
let goodExport: Buffer;
let exportWithoutGrantsAndOwner: Buffer;

/** pg_dump -Fd of production's shop database, tarred and gzipped as Render serves its exports. */
async function makeExport(name: string, extraArgs: string[] = []): Promise<Buffer> {
  const url = fixture.environment.settings.PRODUCTION_DATABASE_URL ?? '';
  const [server] = await fixture.productionSql<{ version: string }>(
    "SELECT current_setting('server_version_num') AS version",
  );
  const dir = join(fixture.stateDir, 'exports', name);
  await mkdir(dir, { recursive: true });
  const dumped = await runPgProcess(
    await clientForServer(Number(server?.version)),
    'pg_dump',
    ['-Fd', '-f', join(dir, 'shop'), ...extraArgs],
    { connection: parseConnectionUrl(url, 'production') },
  );
  if (dumped.exitCode !== 0) throw new Error(`pg_dump failed: ${dumped.stderr}`);
  execFileSync('tar', ['-czf', `${dir}.dir.tar.gz`, '-C', dir, 'shop']);
  return readFile(`${dir}.dir.tar.gz`);
}

function serveExport(body: Buffer) {
  render.reset({
    exports: json(200, [
      {
        id: 'exp-quarterly',
        createdAt: new Date(Date.now() - 5 * 60_000).toISOString(),
        url: render.receiver.url('/exports/exp-quarterly.dir.tar.gz?X-Amz-Signature=CANARYlink'),
      },
    ]),
    download: { status: 200, body },
  });
}

const withRender = () => ({
  ...settings,
  RENDER_POSTGRES_ID: postgresId,
  RENDER_API_KEY: apiKey,
  RENDER_API_URL: render.baseUrl,
  // The worker is a process of its own: it trusts the local API's certificate through its environment.
  NODE_EXTRA_CA_CERTS: render.receiver.certificateFile,
});

const drills = (given: Record<string, string>) =>
  fixture.run(given, { machine: 'drills', input: { trigger: 'schedule' } });

const succeeded = (execution: ExecutionRecord) =>
  execution.states.filter((s) => s.status === 'succeeded').map((s) => s.name);

/** Everything the run left where people or tools read: the history, alerts, step log, bucket records. */
async function everythingWritten(execution: ExecutionRecord): Promise<string> {
  const records = await store.list('');
  const texts = await Promise.all(
    records
      .filter(
        (o) => o.key.startsWith('provider/') || o.key.startsWith('worker/') || o.key.startsWith('drills/'),
      )
      .map((o) => store.getText(o.key)),
  );
  return [
    JSON.stringify(execution),
    JSON.stringify(alerts()),
    await readFile(stepLogPath(fixture.stateDir), 'utf8'),
    ...texts,
  ].join('\n');
}

beforeAll(async () => {
  fixture = await startPipelineFixture();
  // A role production grants to, so the export's grant entries have something to show.
  await fixture.productionSql('CREATE ROLE shop_reader NOLOGIN');
  await fixture.productionSql('GRANT SELECT ON orders TO shop_reader');
  ({ settings, store } = await fixture.freshBucket());
  const backup = await fixture.run(settings);
  if (backup.status !== 'SUCCEEDED') throw new Error(`the backup failed: ${JSON.stringify(backup.error)}`);
  goodExport = await makeExport('good');
  // An export made without grants, while another role owned a table.
  await fixture.productionSql('CREATE ROLE shop_other NOLOGIN');
  const [customers] = await fixture.productionSql<{ owner: string }>(
    "SELECT pg_catalog.pg_get_userbyid(relowner) AS owner FROM pg_catalog.pg_class WHERE relname = 'customers'",
  );
  await fixture.productionSql('ALTER TABLE customers OWNER TO shop_other');
  exportWithoutGrantsAndOwner = await makeExport('without-grants', ['--no-acl']);
  await fixture.productionSql(`ALTER TABLE customers OWNER TO "${customers?.owner.replaceAll('"', '""')}"`);
  render = await startRenderApi({
    apiKey,
    postgresId,
    instance: { plan: 'pro_4gb' },
    recovery: json(200, { recoveryStatus: 'AVAILABLE' }),
    exports: json(200, []),
    faults: [],
  });
}, 300_000);

afterAll(async () => {
  await render?.stop();
  await fixture?.stop();
});

describe('the quarterly drills with Render', () => {
  it("skips Render's drill, saying why, on a stage that does not watch Render", async () => {
    const execution = await drills(settings);

    expect([execution.status, execution.error]).toEqual(['SUCCEEDED', undefined]);
    expect(succeeded(execution)).toEqual(expect.arrayContaining(['RenderDrillWhere', 'RenderDrillSkipped']));
    expect(succeeded(execution)).not.toContain('RenderDrillBuild');
    expect((execution.output as { render: unknown }).render).toEqual({
      skipped: true,
      reason: 'skipped: Render is not configured (stage config render.postgresId / RENDER_POSTGRES_ID)',
    });
    expect(await store.list('provider/')).toEqual([]);
  }, 300_000);

  it("restores Render's newest export on the worker after our own drills and records it, owners and grants compared", async () => {
    serveExport(goodExport);
    const execution = await drills(withRender());

    expect([execution.status, execution.error]).toEqual(['SUCCEEDED', undefined]);
    expect(succeeded(execution)).toEqual(
      expect.arrayContaining(['Conclude', 'RenderDrillBuild', 'RenderDrillResult', 'RenderDrill']),
    );
    expect(succeeded(execution)).not.toContain('RenderDrillSkipped');
    const output = (execution.output as { render: { recordKey: string; passed: boolean } }).render;
    expect(output).toMatchObject({
      passed: true,
      exportId: 'exp-quarterly',
      tablesCompared: expect.any(Number),
    });
    const record = JSON.parse(await store.getText(output.recordKey)) as RenderDrillRecord;
    expect(record).toMatchObject({
      line: 'render',
      passed: true,
      problem: null,
      tables: { missing: [], extra: [], outsideDrift: [] },
      roles: { definitions: 'not in a pg_dump archive', ownerDiffers: [], grantsMissing: [] },
    });
    expect(record.roles?.ownersCompared).toBeGreaterThan(0);
    expect(record.roles?.grantEntries).toBeGreaterThan(0);
    expect(record.exportAgeHours).toBeGreaterThan(0);
    expect(record.rtoSeconds).toBeGreaterThan(0);
    // A drill that passed alerts nobody.
    expect(alerts().filter((a) => a.topic === alertTopicArn)).toEqual([]);
    // The link was fetched by the worker, once, without the key.
    const downloads = render.receiver.requests.filter((r) => r.path.startsWith('/exports/'));
    expect(downloads.map((d) => d.authorization)).toEqual([undefined]);
    expect(await everythingWritten(execution)).not.toContain('CANARY');
  }, 300_000);

  it('alerts on a failed Render drill with its error and record, and leaves our drills passed', async () => {
    serveExport(exportWithoutGrantsAndOwner);
    const execution = await drills(withRender());

    expect([execution.status, execution.error]).toEqual(['SUCCEEDED', undefined]);
    expect(succeeded(execution)).toEqual(expect.arrayContaining(['NotifyRenderDrillFailure', 'Conclude']));
    const alerted = alerts().filter((a) => a.topic === alertTopicArn);
    expect(alerted.map((a) => a.subject)).toEqual(['Render drill FAILED - the second line']);
    expect(alerted[0]?.message).toContain('Error: ProviderDrillFailedError');
    expect(alerted[0]?.message).toContain('owners differ: TABLE public.customers ours');
    expect(alerted[0]?.message).toContain('Render shop_other');
    expect(alerted[0]?.message).toContain('grants of ours missing from the export: TABLE public.orders');
    expect(alerted[0]?.message).toMatch(/record: provider\/render\/drills\/render-[\dT-]+Z\.json/);
    const key = /record: (provider\/render\/drills\/\S+\.json)/.exec(alerted[0]?.message ?? '')?.[1] ?? '';
    const record = JSON.parse(await store.getText(key)) as RenderDrillRecord;
    expect(record.passed).toBe(false);
    expect(record.roles?.grantEntries).toBe(0);
    expect(await everythingWritten(execution)).not.toContain('CANARY');
  }, 300_000);
});
