/**
 * Tests that prove the prover: a table of deliberate changes to a restored copy, each of which
 * verification must catch (test/support/corruptions.ts). Missed means failed.
 *
 * Per production major (every one from 13 to 18), production's database is owned by a role without superuser. The real
 * nightly run keeps the roles, dumps the database and verifies it on a scratch server with owners and
 * grants (the baseline: it must pass). Then the
 * same backup is restored once more the way the Verify step does (`restoreToScratch`: the night's roles
 * replayed, owners and grants restored and handed over), on a scratch server kept for the cases; each
 * case clones that restored database (`CREATE DATABASE ... TEMPLATE`), changes the clone and runs the
 * Verify step's comparison on it: `compareRowCounts` with content (counts, checksums, large objects,
 * sequences) and the owners' and grants' check `handOverOwnership` ends with (`compareOwnership`).
 *
 * Every case must be caught three times: under the manifest's own checksums (copy-text-murmur3-sum64-v4,
 * taken from the dump stream, CHECKSUM_SOURCE=stream, the default), read both ways a restore reads them
 * (in one snapshot after pg_restore, and beside its post-data section: `digestRestoredBeside`), and
 * under the scan's (row-hash-sum64-v3 on 14 and later,
 * row-md5-sum64-v1 on 13, which has no hash_record_extended), taken on production
 * in SQL as the Dump step's scan takes them. Each case also says what a v2 manifest of the same
 * production would have said (14 and later): a figure for the report, not an assertion.
 *
 * A randomized trial then permutes one column of 2,000 small tables (2-20 rows) in SQL and compares both
 * row hashes' sums before and after: v3 must miss none; v2's misses are reported.
 */
import { join } from 'node:path';
import { PublishCommand } from '@aws-sdk/client-sns';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { listBackups, readManifest } from '../../lib/backup/catalog.ts';
import type { Manifest } from '../../lib/backup/manifest.ts';
import { readRuntimeSettings } from '../../lib/config.ts';
import { describeError } from '../../lib/errors.ts';
import { type PgConnection, parseConnectionUrl } from '../../lib/pg/connection.ts';
import {
  type ContentAlgorithm,
  checksumsProofLabel,
  contentAlgorithmFor,
  pinContentSettings,
  tableContent,
} from '../../lib/pg/content.ts';
import { compareOwnership, readOwnership } from '../../lib/pg/ownership.ts';
import { type ColumnPlan, finishedRowHash, rowHashExpression } from '../../lib/pg/row-hash.ts';
import { availableServerBundles, serverForSource } from '../../lib/pg/server-bundle.ts';
import { type QuotedSql, quoteIdentifier, withSession } from '../../lib/pg/session.ts';
import { streamContentAlgorithm } from '../../lib/pg/stream-content.ts';
import { createRuntime } from '../../lib/runtime.ts';
import { compareRowCounts, describeDifferences, digestRestoredBeside } from '../../lib/verify/compare.ts';
import { restoreToScratch } from '../../lib/verify/restore.ts';
import { globalsFor } from '../../lib/verify/roles.ts';
import { type ScratchServer, startScratchServer } from '../../lib/verify/scratch-server.ts';
import { localMajors, type PostgresServer, startPostgresServer } from '../../tools/local/postgres-server.ts';
import { corruptionRoles, corruptionSchema, corruptions } from '../support/corruptions.ts';
import { sns } from '../support/pipeline-assertions.ts';
import { type PipelineFixture, startPipelineFixture } from '../support/pipeline-fixture.ts';
import { recordReliability } from '../support/reliability-recorder.ts';

const password = 'corrupt-owner-pw';
const database = 'corrupt_shop';
const restored = 'restored';
let fixture: PipelineFixture;
/** One line per case and major, printed at the end: caught or missed, under v3 and under v2. */
const report: string[] = [];

beforeAll(async () => {
  // The pipeline's alerts and summaries go to a mocked SNS client (the runs happen in beforeAll).
  sns.on(PublishCommand).resolves({ MessageId: 'test-message' });
  fixture = await startPipelineFixture({ sampleScale: 0.001 });
}, 180_000);

afterAll(async () => {
  if (report.length > 0) process.stdout.write(`\ncorruption suite\n${report.join('\n')}\n`);
  sns.restore();
  await fixture?.stop();
});

/**
 * Verification's answer about the database `connection` points at: a difference, an error, or none.
 * `beside`: the v4 digests read as a restore reads them beside pg_restore's post-data section
 * (`digestRestoredBeside`: fresh sessions, a statement per table, no snapshot), then compared.
 */
async function verdict(
  connection: PgConnection,
  manifest: Manifest,
  options: { beside?: boolean } = {},
): Promise<string | undefined> {
  try {
    const digested = options.beside ? await digestRestoredBeside(connection, manifest, 2) : undefined;
    if (options.beside && !digested) return 'no v4 digests to read beside the restore';
    return await withSession(connection, async (session) => {
      // As the restore and the Verify step compare: the scan on two sessions sharing one snapshot.
      const compare = await compareRowCounts(session, manifest, {
        content: true,
        parallel: { connection, jobs: 2 },
        digested,
      });
      const expected = checksumsProofLabel(manifest.content?.algorithm);
      if (compare.proof !== 'checksums' && compare.proof !== expected) {
        return `proof was ${compare.proof}, not ${expected}`;
      }
      const target = await session.query<{ version: string }>(
        "SELECT current_setting('server_version_num') AS version",
      );
      const owners = manifest.ownership
        ? compareOwnership(manifest.ownership, await readOwnership(session), {
            source: manifest.source.serverVersionNum,
            target: Number(target.rows[0]?.version),
          })
        : ['the manifest recorded no owners'];
      const differences = [...describeDifferences(compare), ...owners];
      return differences.length > 0 ? differences.join('; ') : undefined;
    });
  } catch (error) {
    return `error: ${describeError(error)}`;
  }
}

describe.each(localMajors)('a PostgreSQL %i production', (major) => {
  let production: PostgresServer;
  let scratch: ScratchServer | undefined;
  let manifest: Manifest;
  /** The same production's checksums by the scan (CHECKSUM_SOURCE=scan): v3, or v1 on 13. */
  let scanManifest: Manifest;
  /**
   * The same production's checksums under row-hash-sum64-v2, as a manifest written before v3; none on
   * 13, where v2 never existed.
   */
  let v2Manifest: Manifest | undefined;
  const ownerUrl = () => {
    const url = new URL(production.url(database));
    url.username = corruptionRoles.owner;
    url.password = password;
    return url.toString();
  };
  const scratchAs = (name: string, user?: string): PgConnection => ({
    ...(scratch as ScratchServer).connection,
    database: name,
    ...(user ? { user } : {}),
  });

  beforeAll(async () => {
    production = await startPostgresServer({
      major,
      dataDir: join(fixture.stateDir, 'pg', `corrupt-${major}`),
    });
    await withSession(parseConnectionUrl(production.url(), 'production'), async (session) => {
      await session.query(
        `CREATE ROLE ${corruptionRoles.owner} LOGIN PASSWORD '${password}' NOSUPERUSER NOCREATEDB NOCREATEROLE`,
      );
      await session.query(`CREATE ROLE ${corruptionRoles.reader} NOLOGIN`);
      await session.query(`CREATE DATABASE ${database} OWNER ${corruptionRoles.owner}`);
    });
    await withSession(parseConnectionUrl(ownerUrl(), 'owner'), async (session) => {
      for (const statement of corruptionSchema) await session.query(statement);
    });

    // The baseline: the real nightly run keeps the roles, backs the database up and verifies it, with
    // owners and grants (one restore job: see a_rates).
    const { settings, store } = await fixture.freshBucket({
      PRODUCTION_DATABASE_URL: ownerUrl(),
      RESTORE_JOBS: '1',
      CHECKSUM_SOURCE: 'stream',
    });
    const execution = await fixture.run(settings, { machine: 'nightly', input: { trigger: 'schedule' } });
    expect(execution.error).toBeUndefined();
    expect(execution.status).toBe('SUCCEEDED');
    const [backup] = await listBackups(store);
    expect(backup?.verified).toBe(true);
    manifest = await readManifest(store, backup?.backupId ?? '');
    expect(manifest.content?.algorithm).toBe(streamContentAlgorithm);
    expect(manifest.content?.scanAlgorithm).toBe(contentAlgorithmFor(major * 10_000));
    expect(manifest.source.serverVersion).toMatch(new RegExp(`^${major}\\.`));

    const content = manifest.content;
    if (!content) throw new Error('the backup has no content checksums');
    /** A manifest of the same production whose checksums a scan took under `algorithm`. */
    const scannedManifest = async (algorithm: ContentAlgorithm): Promise<Manifest> => {
      const tables = await withSession(parseConnectionUrl(ownerUrl(), 'owner'), async (session) => {
        await session.query('BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY');
        await pinContentSettings(session, 'LOCAL');
        return tableContent(session, manifest.tables, algorithm);
      });
      const { scanAlgorithm: _, ...scanContent } = content;
      return {
        ...manifest,
        content: { ...scanContent, algorithm },
        tables: tables.map(({ schema, table, rows, checksum, columns }) => ({
          schema,
          table,
          rows,
          ...(checksum === undefined ? {} : { checksum }),
          ...(columns ? { columns } : {}),
        })),
      };
    };
    scanManifest = await scannedManifest(contentAlgorithmFor(major * 10_000));
    v2Manifest = major < 14 ? undefined : await scannedManifest('row-hash-sum64-v2');

    // The restored copy the cases corrupt: restored as the Verify step restores, and kept.
    const runtime = createRuntime(readRuntimeSettings(settings));
    const bundle = serverForSource(
      manifest.source.serverVersionNum,
      await availableServerBundles({ serverDir: runtime.settings.PG_SERVER_DIR }),
    );
    expect(bundle.major).toBe(major);
    scratch = await startScratchServer({ bundle, workDir: runtime.settings.WORK_DIR });
    const roles = await globalsFor(runtime.store.forScope(undefined), new Date(manifest.createdAt));
    expect(roles).toBeDefined();
    const restore = await restoreToScratch(manifest, scratch, restored, {
      store: runtime.store,
      programs: runtime.programs,
      jobs: 1,
      roles,
    });
    expect(restore.roles?.ownership).toBe('match');
  }, 600_000);

  afterAll(async () => {
    await scratch?.stop();
    await production?.stop();
  });

  /** A clone of the restored copy, changed by `statements`; dropped after `work`. */
  async function withClone<T>(name: string, statements: string[], work: () => Promise<T>): Promise<T> {
    const admin = scratchAs('postgres');
    await withSession(admin, (s) => s.query(`CREATE DATABASE ${quoteIdentifier(name)} TEMPLATE ${restored}`));
    try {
      await withSession(scratchAs(name), async (session) => {
        for (const statement of statements) await session.query(statement);
      });
      return await work();
    } finally {
      await withSession(admin, (s) => s.query(`DROP DATABASE ${quoteIdentifier(name)} WITH (FORCE)`));
    }
  }

  /** Large objects belong to whoever restored them: hand them to the owner, who then reads them. */
  const largeObjectsToOwner = `DO $$ DECLARE o oid; BEGIN
      FOR o IN SELECT oid FROM pg_catalog.pg_largeobject_metadata LOOP
        EXECUTE format('ALTER LARGE OBJECT %s OWNER TO ${corruptionRoles.owner}', o);
      END LOOP; END $$`;

  it('verifies the untouched restored copy, as its superuser and as production’s owner', async () => {
    expect(await verdict(scratchAs(restored), manifest)).toBeUndefined();
    expect(await verdict(scratchAs(restored), manifest, { beside: true })).toBeUndefined();
    expect(await verdict(scratchAs(restored), scanManifest)).toBeUndefined();
    if (v2Manifest) expect(await verdict(scratchAs(restored), v2Manifest)).toBeUndefined();
    const asOwner = await withClone('untouched', [largeObjectsToOwner], () =>
      verdict(scratchAs('untouched', corruptionRoles.owner), manifest),
    );
    expect(asOwner).toBeUndefined();
  });

  it.each(corruptions.map((c, i) => [c.name, c, i] as const))('catches: %s', async (_name, corruption, i) => {
    const name = `case_${i}`;
    const statements = corruption.asOwner ? [largeObjectsToOwner, ...corruption.change] : corruption.change;
    const user = corruption.asOwner ? corruptionRoles.owner : undefined;
    const [own, beside, scan, v2] = await withClone(name, statements, async () => [
      await verdict(scratchAs(name, user), manifest),
      await verdict(scratchAs(name, user), manifest, { beside: true }),
      await verdict(scratchAs(name, user), scanManifest),
      v2Manifest ? await verdict(scratchAs(name, user), v2Manifest) : 'not measured',
    ]);
    const algorithm = manifest.content?.algorithm;
    const scanAlgorithm = scanManifest.content?.algorithm;
    const v2Said = v2Manifest ? (v2 ? 'caught' : 'missed') : 'n/a';
    report.push(
      `PG${major} ${corruption.name}: ${algorithm} ${own ? 'caught' : 'MISSED'} (read beside the restore: ${beside ? 'caught' : 'MISSED'}), ${scanAlgorithm} ${scan ? 'caught' : 'MISSED'}, v2 ${v2Said}${own ? ` (${own.slice(0, 120)})` : ''}`,
    );
    expect([corruption.name, own === undefined ? 'missed' : 'caught']).toEqual([corruption.name, 'caught']);
    expect([corruption.name, beside === undefined ? 'missed' : 'caught']).toEqual([
      corruption.name,
      'caught',
    ]);
    expect([corruption.name, scan === undefined ? 'missed' : 'caught']).toEqual([corruption.name, 'caught']);
    recordReliability({
      area: 'content',
      fault: `PostgreSQL ${major} production, restored copy: ${corruption.name}`,
      expectedError: 'verification fails',
      observed: `caught under ${algorithm} and under ${scanAlgorithm}${v2 ? '' : '; v2 would have missed it'}`,
      invariants: [`what verification said: ${own?.slice(0, 160)}`],
    });
  });
});

describe('a randomized trial of permutations', () => {
  it('misses no permuted table under v3 in 2,000 trials of 2-20 rows; v2 is measured, not asserted', async () => {
    const plan: ColumnPlan = [
      ['a', 'value'],
      ['b', 'text'],
    ];
    const v2 = rowHashExpression(plan, true);
    const v3 = finishedRowHash('x.h' as QuotedSql);
    // Each trial: n distinct rows (a = 1..n, b random text); b permuted at random among the rows. A
    // permutation that moved nothing is no change and is not counted.
    const rows = await fixture.productionSql<{ changed: string; v2_missed: string; v3_missed: string }>(
      `WITH rows AS MATERIALIZED (
         SELECT trial, i, md5(trial || ':' || i || ':' || random()) AS b,
                row_number() OVER (PARTITION BY trial ORDER BY random()) AS j
           FROM generate_series(1, 2000) AS trial, generate_series(1, 2 + trial % 19) AS i),
       original AS (SELECT trial, false AS moved, i AS a, b FROM rows),
       permuted AS (SELECT p.trial, p.i <> q.i AS moved, p.i AS a, q.b
                      FROM rows p JOIN rows q ON q.trial = p.trial AND q.j = p.i),
       sums AS (
         SELECT side, trial, bool_or(moved) AS moved, sum(x.h) AS v2, sum(${v3}) AS v3
           FROM (SELECT 'original' AS side, t.trial, t.moved, ${v2} AS h FROM original AS t
                 UNION ALL
                 SELECT 'permuted', t.trial, t.moved, ${v2} FROM permuted AS t) AS x
          GROUP BY side, trial)
       SELECT count(*)::text AS changed,
              count(*) FILTER (WHERE p.v2 = o.v2)::text AS v2_missed,
              count(*) FILTER (WHERE p.v3 = o.v3)::text AS v3_missed
         FROM sums o JOIN sums p ON p.trial = o.trial AND p.side = 'permuted' AND o.side = 'original'
        WHERE p.moved`,
    );
    const [result] = rows;
    const changed = Number(result?.changed);
    report.push(
      `random permutations: ${changed} changed tables of 2-20 rows; v3 missed ${result?.v3_missed}, v2 missed ${result?.v2_missed} (${((100 * Number(result?.v2_missed)) / changed).toFixed(1)}%)`,
    );
    expect(changed).toBeGreaterThan(1500);
    expect(Number(result?.v3_missed)).toBe(0);
    recordReliability({
      area: 'content',
      fault: `one column of ${changed} random tables of 2-20 rows permuted (2,000 trials, the identity left out)`,
      expectedError: 'every sum differs',
      observed: `v3 missed 0; v2 missed ${result?.v2_missed} (${((100 * Number(result?.v2_missed)) / changed).toFixed(1)}%)`,
      invariants: ['row-hash-sum64-v3 sums differ for every changed table'],
    });
  }, 120_000);
});
