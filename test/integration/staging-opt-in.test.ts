/**
 * Staging mode with what a managed provider gives: a database owner with CREATEDB, never a superuser.
 * On PostgreSQL 15, 16, 17 and 18 such an owner can opt its database in (a database comment) and the
 * backup verifies there; the first design's custom setting is refused to it on every one of them,
 * which is why the comment replaced it.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { readManifest } from '../../lib/backup/catalog.ts';
import { verifyBackup } from '../../lib/commands/verify-backup.ts';
import { readRuntimeSettings } from '../../lib/config.ts';
import { ProductionTargetError } from '../../lib/errors.ts';
import { parseConnectionUrl } from '../../lib/pg/connection.ts';
import { withSession } from '../../lib/pg/session.ts';
import { createRuntime } from '../../lib/runtime.ts';
import { optInStatement, restoreTargetSetting } from '../../lib/verify/restore-target-guard.ts';
import { localMajors, type PostgresServer, startPostgresServer } from '../../tools/local/postgres-server.ts';
import { answerAlertsInEachTest } from '../support/pipeline-assertions.ts';
import { type PipelineFixture, startPipelineFixture } from '../support/pipeline-fixture.ts';

answerAlertsInEachTest();

let fixture: PipelineFixture;
let settings: Record<string, string>;
let backupId: string;
const servers = new Map<number, PostgresServer>();

beforeAll(async () => {
  fixture = await startPipelineFixture();
  const bucket = await fixture.freshBucket();
  settings = bucket.settings;
  const backup = await fixture.run(settings);
  if (backup.status !== 'SUCCEEDED') throw new Error(`no backup to restore: ${JSON.stringify(backup.error)}`);
  backupId = (backup.output as { dump: { backupId: string } }).dump.backupId;
  for (const major of localMajors) {
    const server = await startPostgresServer({ major, dataDir: `${fixture.stateDir}/pg/owner-${major}` });
    servers.set(major, server);
    await withSession(parseConnectionUrl(server.url(), 'admin'), (session) =>
      session.query("CREATE ROLE app_owner LOGIN CREATEDB PASSWORD 'owner-pw' NOSUPERUSER"),
    );
  }
}, 240_000);
afterAll(async () => {
  for (const server of servers.values()) await server.stop();
  await fixture?.stop();
});

const asOwner = (server: PostgresServer, database: string) => {
  const url = new URL(server.url(database));
  url.username = 'app_owner';
  url.password = 'owner-pw';
  return url.toString();
};

describe.each(localMajors)('a database owner without superuser on PostgreSQL %i', (major) => {
  it('cannot store the old custom setting, opts in with a comment, and the backup verifies there', async () => {
    const server = servers.get(major) as PostgresServer;
    const database = `staging_${major}`;
    await withSession(parseConnectionUrl(asOwner(server, 'postgres'), 'owner'), async (session) => {
      await session.query(`CREATE DATABASE ${database}`);
    });
    const owner = parseConnectionUrl(asOwner(server, database), 'owner');
    const [role] = await withSession(
      owner,
      async (session) =>
        (await session.query('SELECT rolsuper FROM pg_roles WHERE rolname = current_user')).rows as {
          rolsuper: boolean;
        }[],
    );
    expect(role?.rolsuper).toBe(false);

    // The first design's opt-in: refused to an owner on 15 and later.
    const refused = await withSession(owner, (session) =>
      session.query(`ALTER DATABASE ${database} SET ${restoreTargetSetting} = 'allowed'`),
    ).catch((error: unknown) => error);
    expect(String((refused as Error).message)).toMatch(/permission denied to set parameter/);

    const runtime = createRuntime(
      readRuntimeSettings({
        ...settings,
        VERIFY_TARGET: 'staging',
        STAGING_DATABASE_URL: asOwner(server, database),
      }),
    );
    const manifest = await readManifest(runtime.store, backupId);
    // Not opted in yet: refused before anything is touched.
    await expect(verifyBackup(runtime, manifest)).rejects.toBeInstanceOf(ProductionTargetError);

    await withSession(owner, (session) => session.query(optInStatement(database)));
    const outcome = await verifyBackup(runtime, manifest);

    expect(outcome).toMatchObject({
      target: 'staging',
      compare: { status: 'match', missing: [], extra: [] },
    });
    expect(outcome.serverVersion).toMatch(new RegExp(`^${major}\\.`));
    if (major < 17) {
      expect(outcome.benignMessages).toEqual([expect.stringContaining('"transaction_timeout"')]);
    }
  });
});
