/**
 * The heartbeat is the night's, not a database's: the real nightly and backup state machines run
 * locally with the real handlers, and a real HTTPS server plays the healthchecks.io check. Whatever
 * the number of databases, a night pings the check exactly once, after Conclude: success when every
 * database verified, fail when any did not. An on-demand backup of one database (the backup machine
 * alone) pings nothing: the check watches the schedule.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { type HttpsReceiver, startHttpsReceiver } from '../support/https-receiver.ts';
import { answerAlertsInEachTest } from '../support/pipeline-assertions.ts';
import { type PipelineFixture, startPipelineFixture } from '../support/pipeline-fixture.ts';

answerAlertsInEachTest();

let fixture: PipelineFixture;
let receiver: HttpsReceiver;
let production: string;

beforeAll(async () => {
  fixture = await startPipelineFixture();
  receiver = await startHttpsReceiver();
  production = new URL(fixture.environment.settings.PRODUCTION_DATABASE_URL ?? '').pathname.slice(1);
  await fixture.productionSql('CREATE DATABASE ledger');
  await fixture.sqlOn(
    'ledger',
    'CREATE TABLE entries (id bigint PRIMARY KEY, amount numeric)',
    'INSERT INTO entries SELECT i, i * 2.5 FROM generate_series(1, 40) i',
  );
}, 120_000);

afterAll(async () => {
  await receiver?.stop();
  await fixture?.stop();
});

beforeEach(() => {
  receiver.requests.length = 0;
  receiver.status = 200;
});

const pings = () => receiver.requests.filter((r) => r.path.startsWith('/ping/')).map((r) => r.path);

async function night(databases: string) {
  const { settings } = await fixture.freshBucket({
    HEARTBEAT_URL: receiver.url('/ping/CANARYnight'),
    DATABASES: databases,
    DATABASE_CONCURRENCY: '2',
  });
  return fixture.run(settings, { machine: 'nightly', input: { trigger: 'schedule' } });
}

describe('the nightly heartbeat', () => {
  it('is pinged once with success for a night of one verified database', async () => {
    const run = await night(production);
    expect(run.status).toBe('SUCCEEDED');
    expect(pings()).toEqual(['/ping/CANARYnight']);
  });

  it('is pinged once with success, not once per database, when two databases verified', async () => {
    const run = await night(`${production},ledger`);
    expect(run.status).toBe('SUCCEEDED');
    expect(pings()).toEqual(['/ping/CANARYnight']);
  });

  it('is pinged once with fail when one of two databases failed, whichever finished last', async () => {
    const run = await night(`${production},missing`);
    expect(run.status).toBe('FAILED');
    expect(run.error?.name).toBe('DatabaseNotFoundError');
    expect(pings()).toEqual(['/ping/CANARYnight/fail']);
  });

  it('is pinged with fail when the night fails before any database (no list of databases)', async () => {
    const { settings } = await fixture.freshBucket({
      HEARTBEAT_URL: receiver.url('/ping/CANARYnight'),
      DATABASES: production,
    });
    const run = await fixture.run(settings, {
      machine: 'nightly',
      input: { trigger: 'schedule' },
      wrap: {
        ListDatabases: async () => {
          throw new Error('listing refused');
        },
      },
    });
    expect(run.status).toBe('FAILED');
    expect(pings()).toEqual(['/ping/CANARYnight/fail']);
  });

  it('is not pinged by an on-demand backup of one database, verified or failed', async () => {
    const { settings } = await fixture.freshBucket({ HEARTBEAT_URL: receiver.url('/ping/CANARYnight') });
    expect((await fixture.run(settings)).status).toBe('SUCCEEDED');
    const failed = await fixture.run(settings, { input: { trigger: 'manual', database: 'missing' } });
    expect(failed.status).toBe('FAILED');
    expect(pings()).toEqual([]);
  });

  it('never fails the night when the check cannot be reached', async () => {
    receiver.status = 503;
    const run = await night(production);
    expect(run.status).toBe('SUCCEEDED');
    expect(pings()).toEqual(['/ping/CANARYnight']);
    expect(JSON.stringify(run)).not.toMatch(/CANARY/);
  });
});
