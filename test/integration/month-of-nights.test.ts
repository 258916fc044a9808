/**
 * A month of nights (issue 32, "No false alarms"): a healthy stage never pages, and every real failure
 * pages once, naming the database, the step and the cause, with the status red until the next good
 * night. The age alarm watches silence (SilenceHours, lib/report/silence.ts: no verified backup and no
 * delivered failure alert), so a failed night, already announced with its cause, does not trip it
 * three hours later as it did while it watched BackupAgeHours; a missed night does.
 *
 * Real parts throughout (test/support/month-of-nights.ts): the nightly state machine and the backup
 * machine it starts, run locally with the real handlers; production databases owned by roles without
 * superuser on an embedded PostgreSQL server; scratch verification servers; s3rver; the status function
 * each morning at 08:00 and after each night, the retention function after each night; the alert relay
 * feeding a real HTTPS receiver that stands in for Slack, the webhook and the heartbeat; the age alarm
 * modelled as CloudWatch evaluates it. The clock is injected (`Runtime.now`, the runner's `now`): each
 * night starts at 02:00 UTC of its simulated day.
 *
 * What is simulated. One night costs a few seconds (2-9 s measured on a shared 2-core machine, most
 * of it the scratch restore), so 35 nights for each setup would take minutes. Every setup keeps the
 * month's calendar (September 2026, 35 days from the 1st) and runs the nights that matter; the clock
 * jumps over the quiet nights between them, whose mornings are not checked and whose hours the alarm
 * does not evaluate (`Month.calendar()`, asserted below, says which day was run, missed or jumped):
 * - one database, a healthy month: nights 1, 2, 16, 31 and 35 (the first nights, mid-month, the day
 *   the first backup falls out of the 30 daily days of retention, the month's end), and a backup
 *   started by hand on day 16 (no heartbeat);
 * - a Render-like owner granting to other roles: nights 1 and 2, a table and a grant added between;
 * - a week with no writes at all: nights 1, 2, 3 and 7;
 * - one transient outage of the store, absorbed by the Promote state's Retry: nights 1 and 2;
 * - several databases (`DATABASES=all`, the server's empty `postgres` among them) on a server of their
 *   own, and a database created on day 10: nights 1, 2, 10 and 11;
 * - the same month with one real failure of each kind: nights 6, 7 (a dump that fails: a table the
 *   backup role may not read), 8, 13, 14 (a restore that differs: a stored generated column over a
 *   function that reads TimeZone), 15, 20, 21 (missed: the schedule did not fire) and 22. The night
 *   before each event is run, so the age alarm sees the ages a real month would have.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { backupIdTime } from '../../lib/storage/keys.ts';
import { type PostgresServer, startPostgresServer } from '../../tools/local/postgres-server.ts';
import { type FaultProxy, startFaultProxy } from '../support/fault-proxy.ts';
import { type HttpsReceiver, startHttpsReceiver } from '../support/https-receiver.ts';
import { channelsOf, digest, type Month, pages, startMonth } from '../support/month-of-nights.ts';
import { answerAlertsInEachTest } from '../support/pipeline-assertions.ts';
import { type PipelineFixture, startPipelineFixture } from '../support/pipeline-fixture.ts';
import { sql, urlAs } from '../support/sql.ts';

answerAlertsInEachTest();

let fixture: PipelineFixture;
let receiver: HttpsReceiver;
let production: PostgresServer;

beforeAll(async () => {
  fixture = await startPipelineFixture();
  receiver = await startHttpsReceiver();
  if (!fixture.environment.production) throw new Error('the fixture started no production server');
  production = fixture.environment.production;
}, 120_000);

afterAll(async () => {
  await receiver?.stop();
  await fixture?.stop();
});

const monthStart = new Date('2026-09-01T00:00:00Z');

/** A database owned by `owner` (created without superuser), its URL as that owner. */
async function ownedDatabase(database: string, owner: string, ...statements: string[]): Promise<string> {
  await fixture.productionSql(
    `CREATE ROLE ${owner} LOGIN PASSWORD '${owner}-pw' NOSUPERUSER NOCREATEDB NOCREATEROLE`,
  );
  await fixture.productionSql(`CREATE DATABASE ${database} OWNER ${owner}`);
  const url = urlAs(production, owner, `${owner}-pw`, database);
  await sql(url, ...statements);
  return url;
}

/** A month of one stage backing up `url`'s database into a bucket of its own. */
async function monthOf(name: string, url: string, overrides: Record<string, string> = {}): Promise<Month> {
  const { settings } = await fixture.freshBucket({
    PRODUCTION_DATABASE_URL: url,
    ...channelsOf(receiver),
    ...overrides,
  });
  const stateDir = join(fixture.stateDir, 'months', name);
  await mkdir(stateDir, { recursive: true });
  return startMonth({ settings, stateDir, receiver, start: monthStart });
}

/** A night as it should go: verified, one summary, one heartbeat success (after Conclude), nothing else. */
function quietNight(database: string) {
  return [
    expect.stringMatching(new RegExp(`^summary topic: Backup verified: ${database} \\d{8}T02\\d{4}Z-`)),
    expect.stringMatching(new RegExp(`^slack: \\*Backup verified: ${database} `)),
    'heartbeat: /ping/month',
  ];
}

/** A morning as it should be after a good night: green, within the RPO, nothing sent. */
function expectGreenMorning(morning: Month['mornings'][number]): void {
  expect({
    day: morning.day,
    state: morning.state,
    withinRpo: morning.withinRpo,
    sent: morning.sent,
  }).toEqual({
    day: morning.day,
    state: 'ok',
    withinRpo: true,
    sent: [],
  });
}

/** No page all month, every night verified and quiet, every morning green. */
function expectNoFalseAlarm(month: Month, database: string): void {
  expect(pages(month.sent()).map((s) => `${s.channel}: ${s.text}`)).toEqual([]);
  for (const night of month.nights) {
    expect({ day: night.day, status: night.execution?.status, error: night.execution?.error }).toEqual({
      day: night.day,
      status: 'SUCCEEDED',
      error: undefined,
    });
    expect({ day: night.day, sent: digest(night.sent), state: night.state }).toEqual({
      day: night.day,
      sent: quietNight(database),
      state: 'ok',
    });
  }
  // Retention after each night keeps that night's backup as the newest verified and finds nothing damaged.
  const backupIdOf = (day: number) =>
    (
      month.nights.find((n) => n.day === day)?.execution?.output as {
        conclusion?: { databases?: { backupId?: string }[] };
      }
    )?.conclusion?.databases?.[0]?.backupId ?? '';
  for (const night of month.nights) {
    const backupId = backupIdOf(night.day);
    expect({
      day: night.day,
      newest: night.retention?.newestVerified,
      damaged: night.retention?.damaged,
    }).toEqual({
      day: night.day,
      newest: backupId,
      damaged: 0,
    });
  }
  expect(month.mornings.length).toBe(month.nights.length);
  for (const morning of month.mornings) {
    expectGreenMorning(morning);
    // The night's backup, as old as 08:00 makes it (to 0.05 h: the report rounds, the clock runs on).
    const at = month.dayStart(morning.day).getTime() + 8 * 3_600_000;
    const age = (at - backupIdTime(backupIdOf(morning.day)).getTime()) / 3_600_000;
    expect(morning.backupAgeHours).toBeCloseTo(age, 1);
    // Without failures, the silence the age alarm watches is the backup's age.
    expect(morning.silenceHours).toBe(morning.backupAgeHours);
  }
}

/** Nights `days`, each followed by its morning; `before` runs first on the day (production's traffic). */
async function runNights(
  month: Month,
  days: number[],
  before: (day: number) => Promise<unknown> = async () => undefined,
): Promise<void> {
  for (const day of days) {
    await before(day);
    await month.night(day);
    await month.morning(day);
  }
}

const calendarOf = (month: Month) =>
  month
    .calendar()
    .map((kind, index) => (kind === 'night' ? String(index + 1) : kind === 'missed' ? 'missed' : '.'))
    .join(' ');

describe('a month without faults never pages', () => {
  it('one database: zero alerts, green every morning, one heartbeat success per night', async () => {
    const url = await ownedDatabase(
      'month_one',
      'month_one_owner',
      'CREATE TABLE orders (id bigserial PRIMARY KEY, total numeric NOT NULL, at timestamptz NOT NULL)',
      "INSERT INTO orders (total, at) SELECT i, '2026-08-31' FROM generate_series(1, 200) AS i",
    );
    const month = await monthOf('one', url);

    const traffic = (day: number) =>
      sql(url, `INSERT INTO orders (total, at) SELECT i, now() FROM generate_series(1, ${10 * day}) AS i`);
    await runNights(month, [1, 2, 16], traffic);
    // Someone backs up by hand on day 16 at 14:00: a summary, and no heartbeat (the check watches the schedule).
    const byHand = await month.onDemand(16, 14);
    await runNights(month, [31, 35], traffic);

    expect(byHand.execution.status).toBe('SUCCEEDED');
    expect(digest(byHand.sent)).toEqual([
      expect.stringMatching(/^summary topic: Backup verified: month_one \d{8}T14\d{4}Z-/),
      expect.stringMatching(/^slack: \*Backup verified: month_one /),
    ]);

    expect(calendarOf(month)).toBe(
      '1 2 . . . . . . . . . . . . . 16 . . . . . . . . . . . . . . 31 . . . 35',
    );
    expectNoFalseAlarm(month, 'month_one');
  });

  it('a Render-like owner, granting to other roles, adding a table and a grant mid-month', async () => {
    await fixture.productionSql('CREATE ROLE month_render_reader NOLOGIN');
    await fixture.productionSql(
      "CREATE ROLE month_render_app LOGIN PASSWORD 'app-pw' IN ROLE month_render_reader",
    );
    const url = await ownedDatabase(
      'month_render',
      'month_render_owner',
      'CREATE TABLE customers (id serial PRIMARY KEY, email text NOT NULL UNIQUE)',
      "INSERT INTO customers (email) SELECT 'c' || i || '@example.com' FROM generate_series(1, 100) AS i",
      'CREATE VIEW customer_count AS SELECT count(*) AS n FROM customers',
      'GRANT USAGE ON SCHEMA public TO month_render_reader',
      'GRANT SELECT ON ALL TABLES IN SCHEMA public TO month_render_reader',
      'GRANT INSERT, UPDATE ON customers TO month_render_app',
      'GRANT USAGE ON SEQUENCE customers_id_seq TO month_render_app',
      'ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO month_render_reader',
    );
    const month = await monthOf('render', url);

    await runNights(month, [1, 2], async (day) => {
      if (day !== 2) return;
      await sql(
        url,
        'CREATE TABLE invoices (id serial PRIMARY KEY, customer int REFERENCES customers, amount numeric)',
        'INSERT INTO invoices (customer, amount) SELECT id, id * 2 FROM customers',
        'GRANT INSERT ON invoices TO month_render_app',
      );
    });

    expect(calendarOf(month)).toBe('1 2');
    expectNoFalseAlarm(month, 'month_render');
  });

  it('a week with no writes at all', async () => {
    const url = await ownedDatabase(
      'month_idle',
      'month_idle_owner',
      'CREATE TABLE settings (key text PRIMARY KEY, value text)',
      "INSERT INTO settings VALUES ('mode', 'idle')",
      'CREATE TABLE empty_table (id int)',
    );
    const month = await monthOf('idle', url);

    await runNights(month, [1, 2, 3, 7]);

    expect(calendarOf(month)).toBe('1 2 3 . . . 7');
    expectNoFalseAlarm(month, 'month_idle');
  });

  it('one transient outage of the store, absorbed by a retry', async () => {
    const proxy: FaultProxy = await startFaultProxy(fixture.environment.settings.AWS_ENDPOINT_URL_S3 ?? '');
    try {
      const url = await ownedDatabase(
        'month_blip',
        'month_blip_owner',
        'CREATE TABLE events (id serial PRIMARY KEY, kind text)',
        "INSERT INTO events (kind) SELECT 'k' || i FROM generate_series(1, 50) AS i",
      );
      const month = await monthOf('blip', url, { AWS_ENDPOINT_URL_S3: proxy.endpoint });
      let promoteAttempts = 0;

      // Night 1: the store is down for the first Promote attempt and back for its retry.
      await month.night(1, {
        wrap: {
          Promote: async (next) => {
            promoteAttempts += 1;
            if (promoteAttempts === 1) proxy.down();
            else proxy.up();
            return next();
          },
        },
      });
      proxy.up();
      await month.morning(1);
      await runNights(month, [2]);

      // The first attempt failed and the state's Retry ran it again, within the night.
      expect(promoteAttempts).toBe(2);
      expect(calendarOf(month)).toBe('1 2');
      expectNoFalseAlarm(month, 'month_blip');
    } finally {
      proxy.up();
      await proxy.stop();
    }
  });
});

describe('a month of several databases never pages', () => {
  it("`all` with the server's empty postgres database, and a database added mid-month", async () => {
    // A server of its own, so `all` means this stage's databases only (the owner has no superuser).
    const server = await startPostgresServer({
      major: 18,
      dataDir: join(fixture.stateDir, 'pg', 'month-all'),
    });
    try {
      await sql(
        server.url(),
        "CREATE ROLE month_all_owner LOGIN PASSWORD 'month_all_owner-pw' NOSUPERUSER CREATEDB NOCREATEROLE",
        'CREATE DATABASE app OWNER month_all_owner',
        'CREATE DATABASE queue OWNER month_all_owner',
      );
      const app = urlAs(server, 'month_all_owner', 'month_all_owner-pw', 'app');
      await sql(
        app,
        'CREATE TABLE orders (id serial PRIMARY KEY, total numeric)',
        'INSERT INTO orders (total) VALUES (1), (2)',
      );
      await sql(
        urlAs(server, 'month_all_owner', 'month_all_owner-pw', 'queue'),
        'CREATE TABLE jobs (id serial PRIMARY KEY, kind text)',
      );
      const month = await monthOf('all', app, { DATABASES: 'all' });

      await runNights(month, [1, 2]);
      // Day 10: the owner creates a database during the day; that night backs it up for the first time.
      await sql(app, 'CREATE DATABASE later');
      await sql(
        urlAs(server, 'month_all_owner', 'month_all_owner-pw', 'later'),
        'CREATE TABLE notes (id int PRIMARY KEY, body text)',
        "INSERT INTO notes VALUES (1, 'first')",
      );
      await runNights(month, [10, 11]);

      expect(calendarOf(month)).toBe('1 2 . . . . . . . 10 11');
      expect(pages(month.sent()).map((sent) => `${sent.channel}: ${sent.text}`)).toEqual([]);
      const databasesOf = (day: number) =>
        (
          (
            month.nights.find((n) => n.day === day)?.execution?.output as {
              conclusion?: { databases?: { database?: string; status?: string }[] };
            }
          )?.conclusion?.databases ?? []
        )
          .map((d) => `${d.database}: ${d.status}`)
          .sort();
      for (const night of month.nights) {
        const databases =
          night.day < 10 ? ['app', 'postgres', 'queue'] : ['app', 'later', 'postgres', 'queue'];
        expect({
          day: night.day,
          status: night.execution?.status,
          databases: databasesOf(night.day),
        }).toEqual({
          day: night.day,
          status: 'SUCCEEDED',
          databases: databases.map((database) => `${database}: verified`),
        });
        // One summary per database on the topic and in Slack, and the night's one heartbeat success.
        const sent = digest(night.sent).map(String);
        expect({ day: night.day, count: sent.length }).toEqual({
          day: night.day,
          count: 2 * databases.length + 1,
        });
        expect(sent).toEqual(
          expect.arrayContaining([
            ...databases.map((database) =>
              expect.stringMatching(new RegExp(`^slack: \\*Backup verified: ${database} `)),
            ),
            ...databases.map((database) =>
              expect.stringMatching(
                new RegExp(`^summary topic: Backup verified: ${database} \\d{8}T02\\d{4}Z-`),
              ),
            ),
            'heartbeat: /ping/month',
          ]),
        );
      }
      for (const morning of month.mornings) {
        expectGreenMorning(morning);
      }
    } finally {
      await server.stop();
    }
  });
});

describe('the same month with one real failure of each kind', () => {
  it('pages once per failure, naming the database, the step and the cause; red until the next good night', async () => {
    await fixture.productionSql('CREATE ROLE month_fail_other NOLOGIN');
    const url = await ownedDatabase(
      'month_fail',
      'month_fail_owner',
      'CREATE TABLE orders (id bigserial PRIMARY KEY, total numeric NOT NULL)',
      'INSERT INTO orders (total) SELECT i FROM generate_series(1, 200) AS i',
    );
    const asSuperuser = (...statements: string[]) => sql(production.url('month_fail'), ...statements);
    const month = await monthOf('fail', url);
    const traffic = () => sql(url, 'INSERT INTO orders (total) SELECT i FROM generate_series(1, 20) AS i');

    await runNights(month, [6], traffic);
    // Day 7: someone creates a table as another role, without a grant to the backup role.
    await asSuperuser(
      'CREATE TABLE audit_log (id int, entry text)',
      "INSERT INTO audit_log VALUES (1, 'created by another role')",
      'ALTER TABLE audit_log OWNER TO month_fail_other',
    );
    await runNights(month, [7], traffic);
    // Day 8: the grant the alert asked for.
    await asSuperuser('GRANT SELECT ON audit_log TO month_fail_owner');
    await runNights(month, [8, 13], traffic);
    // Day 14: a stored generated column over an "immutable" function that reads TimeZone: the restore
    // on a server in another zone computes other values (every count still matches).
    await sql(
      url,
      `CREATE FUNCTION local_minute(at timestamptz) RETURNS text LANGUAGE sql IMMUTABLE
         AS $$ SELECT to_char(at, 'YYYY-MM-DD HH24:MI') $$`,
      `CREATE TABLE tz_events (id int PRIMARY KEY, at timestamptz,
         local_minute text GENERATED ALWAYS AS (local_minute(at)) STORED)`,
      "ALTER DATABASE month_fail SET TimeZone = 'Pacific/Kiritimati'",
    );
    await sql(
      url,
      "INSERT INTO tz_events (id, at) VALUES (1, '2026-09-14 00:30Z'), (2, '2026-09-14 12:00Z')",
    );
    await runNights(month, [14], traffic);
    // Day 15: the table goes.
    await sql(
      url,
      'DROP TABLE tz_events',
      'DROP FUNCTION local_minute',
      'ALTER DATABASE month_fail RESET TimeZone',
    );
    await runNights(month, [15, 20], traffic);
    // Night 21: the schedule does not fire.
    month.missNight(21);
    await month.morning(21);
    await runNights(month, [22], traffic);

    expect(calendarOf(month)).toBe('. . . . . 6 7 8 . . . . 13 14 15 . . . . 20 missed 22');
    const night = (day: number) => month.nights.find((n) => n.day === day);
    const morning = (day: number) => month.mornings.find((m) => m.day === day);
    const failurePage = (error: string, step: string) => [
      'alert topic: Backup FAILED - not verified',
      `slack: *[local] Backup FAILED - not verified: ${error} in ${step} (database month_fail)*`,
      expect.stringMatching(
        new RegExp(`^webhook: .*"database":"month_fail","step":"${step}","error":"${error}"`),
      ),
      'heartbeat: /ping/month/fail',
    ];
    const ageAlarmPage = [
      'alert topic: ALARM: "verified-pg-backups-local-backup-age-above-rpo" in US East (N. Virginia)',
      'slack: *[local] ALARM: verified-pg-backups-local-backup-age-above-rpo*',
      expect.stringMatching(/^webhook: .*"kind":"alarm"/),
      'heartbeat: /ping/month/fail',
    ];
    const ageAlarmRecovery = [
      'alert topic: OK: "verified-pg-backups-local-backup-age-above-rpo" in US East (N. Virginia)',
      'slack: *[local] OK: verified-pg-backups-local-backup-age-above-rpo*',
      expect.stringMatching(/^webhook: .*"kind":"recovered"/),
    ];

    // Every page of the month, in order: exactly one per failure. The dump's and the restore's own
    // failure alerts, naming them; the silence alarm for the missed night, and its OK after the next
    // good one. A failed night does not trip the age alarm: at 05:00 it is 27 h after the last verified
    // backup (threshold 24 + 2 h) but 3 h after the failure alert, and the alarm watches the later.
    expect(digest(pages(month.sent()))).toEqual([
      ...failurePage('TablePrivilegeError', 'Dump'),
      ...failurePage('ContentMismatchError', 'Verify'),
      ...ageAlarmPage,
    ]);
    expect(digest(month.sent()).filter((line) => line.startsWith('alert topic: '))).toEqual([
      failurePage('TablePrivilegeError', 'Dump')[0],
      failurePage('ContentMismatchError', 'Verify')[0],
      ageAlarmPage[0],
      ageAlarmRecovery[0],
    ]);
    // Every alert got out: the undelivered-alert alarm has nothing to say all month.
    expect(month.mornings.map((m) => m.undeliveredFailureAlerts)).toEqual(month.mornings.map(() => 0));
    // The silence the alarm saw each morning: hours since the night's backup or, after a failed night,
    // since its alert (about 6 h at 08:00), and 30 h after the missed night.
    expect(month.mornings.map((m) => `${m.day} ${Math.round(m.silenceHours ?? -1)}`)).toEqual([
      '6 6',
      '7 6',
      '8 6',
      '13 6',
      '14 6',
      '15 6',
      '20 6',
      '21 30',
      '22 6',
    ]);
    const expected: Record<number, { night: unknown[]; state?: string; morning: unknown[]; red: boolean }> = {
      6: { night: quietNight('month_fail'), state: 'ok', morning: [], red: false },
      7: {
        night: failurePage('TablePrivilegeError', 'Dump'),
        state: 'last-run-failed',
        morning: [],
        red: true,
      },
      8: { night: quietNight('month_fail'), state: 'ok', morning: [], red: false },
      13: { night: quietNight('month_fail'), state: 'ok', morning: [], red: false },
      14: {
        night: failurePage('ContentMismatchError', 'Verify'),
        state: 'last-run-failed',
        morning: [],
        red: true,
      },
      15: { night: quietNight('month_fail'), state: 'ok', morning: [], red: false },
      20: { night: quietNight('month_fail'), state: 'ok', morning: [], red: false },
      21: { night: [], morning: ageAlarmPage, red: true },
      22: { night: quietNight('month_fail'), state: 'ok', morning: ageAlarmRecovery, red: false },
    };
    const observed = Object.fromEntries(
      month.nights.map((n) => {
        const m = morning(n.day);
        return [
          n.day,
          {
            night: digest(n.sent),
            ...(n.state === undefined ? {} : { state: n.state }),
            morning: digest(m?.sent ?? []),
            red: m?.state !== 'ok',
          },
        ];
      }),
    );
    expect(observed).toEqual(expected);

    // The pages name the database, the step and the cause: e-mail (the topic) and the webhook alike.
    const dumpAlert = night(7)?.sent.find((s) => s.channel === 'alert topic')?.body ?? '';
    expect(dumpAlert).toContain('failed in step Dump');
    expect(dumpAlert).toContain('"database":"month_fail"');
    expect(dumpAlert).toMatch(/may not read \\?"public\\?"\.\\?"audit_log\\?"/);
    expect(JSON.parse(night(7)?.sent.find((s) => s.channel === 'webhook')?.body ?? '{}')).toMatchObject({
      cause: expect.stringContaining('GRANT SELECT ON "public"."audit_log" TO "month_fail_owner"'),
    });
    const verifyAlert = night(14)?.sent.find((s) => s.channel === 'alert topic')?.body ?? '';
    expect(verifyAlert).toContain('failed in step Verify');
    expect(verifyAlert).toContain('"database":"month_fail"');
    expect(verifyAlert).toContain('public.tz_events: content differs');
    // Red in the morning after each failure (the age is past the RPO by then: status and the status
    // page keep BackupAgeHours, not the silence), green after the next night.
    expect(month.mornings.map((m) => `${m.day} ${m.state}`)).toEqual([
      '6 ok',
      '7 stale',
      '8 ok',
      '13 ok',
      '14 stale',
      '15 ok',
      '20 ok',
      '21 stale',
      '22 ok',
    ]);
    expect(morning(21)?.summary).toMatch(
      /^STALE: newest verified backup \S+ is (?:29\.\d|30\.0) h old \(RPO 24 h\)/,
    );
  });
});
