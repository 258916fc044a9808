/**
 * backupctl against the local setup: real embedded servers and the local S3 API under a temporary
 * state directory, exactly as `npx backupctl ...` runs them.
 */

import { createHash } from 'node:crypto';
import { chmod, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { parseConnectionUrl } from '../../lib/pg/connection.ts';
import { withSession } from '../../lib/pg/session.ts';
import { progressFromLogLine } from '../../lib/progress.ts';
import { optInStatement } from '../../lib/verify/restore-target-guard.ts';
import { exitCodes } from '../../tools/cli/main.ts';
import { type PostgresServer, startPostgresServer } from '../../tools/local/postgres-server.ts';
import { runCli } from '../support/cli-run.ts';

let stateDir: string;
let target: PostgresServer;
const savedEnv = { ...process.env };

const run = (...argv: string[]) => runCli(argv);

beforeAll(async () => {
  stateDir = await mkdtemp(join(tmpdir(), 'backupctl-'));
  await chmod(stateDir, 0o755);
  process.env.BACKUP_LOCAL_STATE_DIR = stateDir;
  process.env.BACKUP_SAMPLE_SCALE = '0.02';
  target = await startPostgresServer({ dataDir: join(stateDir, 'pg', 'restore-target') });
  await withSession(parseConnectionUrl(target.url(), 'target'), async (session) => {
    await session.query('CREATE DATABASE recovered');
    await session.query(optInStatement('recovered'));
    await session.query('CREATE DATABASE not_opted_in');
  });
}, 120_000);

afterAll(async () => {
  await target?.stop();
  process.env = savedEnv;
  await rm(stateDir, { recursive: true, force: true });
});

describe('backupctl', () => {
  it('reports no verified backup as outside the RPO before the first backup', async () => {
    const status = await run('status', '--json');
    expect(status.code).toBe(exitCodes.failed);
    expect(JSON.parse(status.stdout)).toMatchObject({ withinRpo: false, newestVerified: null });
  });

  it('runs a local backup, lists it as verified, verifies it and restores it into an opted-in database', async () => {
    const backup = await run('backup', '--local', '--reason', 'cli test');
    expect(backup.code).toBe(exitCodes.ok);
    expect(backup.stdout).toMatch(/Verify .* on a scratch PostgreSQL 18\.\d+; 11 tables, \d+ rows: match/);

    const list = await run('list', '--json');
    const [entry] = JSON.parse(list.stdout) as {
      backupId: string;
      verified: boolean;
      sha256: string;
      bytes: number;
    }[];
    expect(entry?.verified).toBe(true);

    // Each long phase reported its progress in the step log (what a terminal's progress line shows),
    // ending at the dump's size; the restore heads for the source database's size.
    const manifest = { bytes: entry?.bytes };
    const events = (await readFile(join(stateDir, 'logs', 'steps.log'), 'utf8'))
      .split('\n')
      .map((line) => progressFromLogLine(line))
      .filter((event) => event !== undefined);
    const last = (phase: string) => events.filter((e) => e.phase === phase).at(-1);
    expect(last('dump')?.bytes).toBe(manifest.bytes);
    expect(last('checksum')).toEqual({
      phase: 'checksum',
      bytes: manifest.bytes,
      totalBytes: manifest.bytes,
    });
    expect(last('download')).toEqual({
      phase: 'download',
      bytes: manifest.bytes,
      totalBytes: manifest.bytes,
    });
    expect(last('restore')?.bytes).toBeGreaterThan(1_000_000);
    expect(last('restore')?.totalBytes).toBeGreaterThan(1_000_000);

    const verify = await run('verify', 'latest', '--json');
    expect(verify.code).toBe(exitCodes.ok);
    expect(JSON.parse(verify.stdout)).toMatchObject({ backupId: entry?.backupId, status: 'match' });

    const restore = await run(
      'restore',
      'latest',
      '--target-url',
      target.url('recovered'),
      '--jobs',
      '2',
      '--json',
    );
    expect(restore.code).toBe(exitCodes.ok);
    expect(JSON.parse(restore.stdout)).toMatchObject({
      backupId: entry?.backupId,
      compare: { status: 'match' },
    });

    const status = await run('status');
    expect(status.code).toBe(exitCodes.ok);
    expect(status.stdout).toContain(`OK: newest verified backup ${entry?.backupId}`);
    // A few readable lines beyond the verdict: the proof, the last failure and drill, the month.
    const lines = status.stdout.split('\n');
    expect(lines[1]).toBe('  proof         row counts and content checksums');
    expect(lines[2]).toMatch(/^ {2}last failure {2}(none in 30 days|\w+ \w+Error, )/);
    expect(lines[3]).toMatch(
      /^ {2}last drill {4}(none yet: run `backupctl drill`|\S+ (PASSED|FAILED), RTO )/,
    );
    expect(lines[4]).toMatch(
      /^ {2}30 days {7}\d+ run\(s\), \d+ succeeded; dump [\d.]+ [KMG]iB → [\d.]+ [KMG]iB, growth /,
    );
  });

  it('downloads a backup checked against its manifest, for a restore by hand, and never overwrites', async () => {
    const out = join(stateDir, 'downloads');
    const download = await run('download', 'latest', '--out', out, '--json');
    expect(download.code).toBe(exitCodes.ok);
    const outcome = JSON.parse(download.stdout) as { backupId: string; dumpPath: string; sha256: string };
    const dump = await readFile(outcome.dumpPath);
    expect(createHash('sha256').update(dump).digest('hex')).toBe(outcome.sha256);
    const manifest = JSON.parse(await readFile(join(out, `${outcome.backupId}.manifest.json`), 'utf8'));
    expect(manifest.dump).toMatchObject({ sha256: outcome.sha256, bytes: dump.length });
    expect(await readdir(out)).toEqual(
      [`${outcome.backupId}.dump`, `${outcome.backupId}.manifest.json`].sort(),
    );
    expect((await run('download', 'latest', '--out', out)).code).toBe(exitCodes.usage);
    const human = await run('download', 'latest', '--out', join(stateDir, 'downloads-2'));
    expect(human.stdout).toContain('matches its manifest');
    expect(human.stdout).toMatch(/pg_restore --no-owner --no-acl --jobs=4 --dbname=/);
  });

  it('shows what the retention policy keeps and why, changing nothing without --apply', async () => {
    const retention = await run('retention', '--json');
    expect(retention.code).toBe(exitCodes.ok);
    const outcome = JSON.parse(retention.stdout) as {
      decisions: { backupId: string; keep: boolean; reasons: string[] }[];
      marked: string[];
    };
    expect(outcome.decisions[0]).toMatchObject({
      keep: true,
      reasons: expect.arrayContaining(['the newest verified backup']),
    });
    expect(outcome.marked).toEqual([]);
    expect((await run('retention')).stdout).toMatch(
      /0 of \d+ backups may expire \(nothing changed; --apply marks them\)/,
    );
  });

  it('runs a restore drill locally, prints each state and writes the evidence', async () => {
    const drill = await run('drill', '--local', '--reason', 'cli drill');
    expect(drill.code).toBe(exitCodes.ok);
    expect(drill.stdout).toMatch(/RestoreAndCheck .* sanity 2\/2 passed/);
    expect(drill.stdout).toMatch(/Drill passed\. Evidence: drills\/\d{4}-Q[1-4]\/\S+\.json and \S+\.md/);
  });

  it('writes the status report, badge and Markdown to the bucket with status --write', async () => {
    const status = await run('status', '--write');
    expect(status.code).toBe(exitCodes.ok);
    expect(status.stdout).toContain('OK: newest verified backup');
    expect(status.stdout).toContain('Written: status/status.json, status/BACKUP_STATUS.md, status/badge.svg');
    const report = JSON.parse((await run('status', '--json')).stdout) as {
      lastDrill: { passed: boolean } | null;
      successRate30d: { source: string; runs: number };
    };
    expect(report.lastDrill?.passed).toBe(true);
    expect(report.successRate30d).toMatchObject({ source: 'executions', runs: 1 });
  });

  it('writes the status page to a local file with --open; --link is for a stage', async () => {
    const pages = join(stateDir, 'pages');
    const opened = await run('status', '--open', '--out', pages, '--json');
    expect(opened.code).toBe(exitCodes.ok);
    const { file, report } = JSON.parse(opened.stdout) as { file: string; report: { state: string } };
    expect(file).toBe(join(pages, 'backup-status-local.html'));
    expect(report.state).toBe('ok');
    const html = await readFile(file, 'utf8');
    expect(html).toContain('data-state="ok"');
    // One chart per measure: dump size, database size, durations, age vs RPO (issue 29).
    expect(html.match(/<svg class="chart"/g)).toHaveLength(4);

    // A link to the local S3 API would die with the command: --link is for a stage.
    const linked = await run('status', '--link');
    expect(linked.code).toBe(exitCodes.usage);
    expect(linked.stderr).toContain('--link needs --stage');
  });

  it('audits the local executions of both state machines with trigger, steps and durations', async () => {
    const audit = await run('audit', '--since', '1d', '--json');
    expect(audit.code).toBe(exitCodes.ok);
    const entries = JSON.parse(audit.stdout) as {
      stateMachine: string;
      trigger: string;
      status: string;
      steps: { name: string; status: string; durationMs: number }[];
    }[];
    // The restore above ran as an execution too (on the local worker): the audit shows it.
    expect(entries.map((e) => [e.stateMachine, e.trigger, e.status])).toEqual([
      ['drill', 'drill (cli)', 'SUCCEEDED'],
      ['restore', 'cli', 'SUCCEEDED'],
      ['backup', 'cli', 'SUCCEEDED'],
    ]);
    expect(entries[1]?.steps.map((s) => s.name)).toEqual(
      expect.arrayContaining(['RestoreBuild', 'RestoreResult', 'ForgetTarget']),
    );
    expect(entries[2]?.steps.map((s) => s.name)).toContain('Verify');
    expect(entries[0]?.steps.every((s) => s.durationMs >= 0)).toBe(true);
    const human = await run('audit');
    expect(human.stdout).toMatch(/drill\s+SUCCEEDED\s+trigger: drill \(cli\)/);
    expect(human.stdout).toMatch(/Verify\s+succeeded/);
    expect((await run('audit', '--since', 'forever')).code).toBe(exitCodes.usage);
  });

  it('refuses to restore into a database that has not opted in, without printing the password', async () => {
    const restore = await run('restore', 'latest', '--target-url', target.url('not_opted_in'));
    expect(restore.code).toBe(exitCodes.failed);
    expect(restore.stderr).toContain('has not opted in');
    expect(restore.stderr).not.toContain(':postgres@');
  });

  it('answers usage errors with exit code 2', async () => {
    expect((await run('restore', 'latest')).code).toBe(exitCodes.usage);
    expect((await run('list', '--colour')).code).toBe(exitCodes.usage);
    expect((await run('verify', 'not-an-id')).code).toBe(exitCodes.usage);
    const impossible = await run('verify', '20261399T999999Z-abcdef');
    expect(impossible.code).toBe(exitCodes.usage);
    expect(impossible.stderr).toContain('InputValidationError');
    expect((await run('restore', 'latest', '--target-url', 'mysql://x@y/z')).code).toBe(exitCodes.usage);
    const malformed = await run('restore', 'latest', '--target-url', 'postgres://x:Pw%zzCanary@y/z');
    expect(malformed.code).toBe(exitCodes.usage);
    expect(malformed.stderr).toContain('ConfigurationError: --target-url has a malformed percent-escape');
    expect(malformed.stdout + malformed.stderr).not.toContain('Canary');
  });

  it('prints every step log line with --verbose, as the local log file keeps it', async () => {
    const backup = await run('backup', '--local', '--verbose');
    expect(backup.code).toBe(exitCodes.ok);
    const lines = backup.stderr
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map(
        (line) =>
          JSON.parse(line) as { message: string; step: string; backupId?: string; executionId?: string },
      );
    expect(lines.filter((line) => line.message === 'step succeeded').map((line) => line.step)).toEqual([
      'plan',
      'dump',
      'promote',
      'checksum',
      'verify',
      'notify',
    ]);
    expect(lines.find((line) => line.step === 'notify')).toMatchObject({
      backupId: expect.stringMatching(/^\d{8}T\d{6}Z-/),
      executionId: expect.stringContaining(':execution:backup:'),
    });
    const kept = (await readFile(join(stateDir, 'logs', 'steps.log'), 'utf8')).trim().split('\n');
    expect(kept.slice(-lines.length).map((line) => JSON.parse(line).message)).toEqual(
      lines.map((l) => l.message),
    );
    expect((await run('backup', '--local')).stderr).not.toContain('step started');
  });
});
