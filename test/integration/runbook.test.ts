/**
 * The runbook cannot rot: every command it shows (shell lines, SQL, inline `npx backupctl ...`) is run
 * here exactly as printed, against the local setup, with only its documented placeholders filled in.
 * A command that fails, or a placeholder this test does not know, fails the test.
 */
import { spawn } from 'node:child_process';
import { chmod, copyFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { parseConnectionUrl } from '../../lib/pg/connection.ts';
import { withSession } from '../../lib/pg/session.ts';
import { projectRoot } from '../../tools/local/environment.ts';
import { type PostgresServer, startPostgresServer } from '../../tools/local/postgres-server.ts';
import { extractRunbookCommands, type RunbookCommand } from '../../tools/runbook/commands.ts';
import { extractEvidenceSection } from '../../tools/runbook/evidence-section.ts';

let stateDir: string;
let runbookCopy: string;
let newHost: PostgresServer;
let env: NodeJS.ProcessEnv;

function sh(command: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolveRun, reject) => {
    const child = spawn('sh', ['-c', command], { cwd: projectRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.once('error', reject);
    child.once('close', (code) => resolveRun({ code, stdout, stderr }));
  });
}

async function onNewHost(sql: string): Promise<void> {
  await withSession(parseConnectionUrl(newHost.url('postgres'), 'new host'), (session) => session.query(sql));
}

beforeAll(async () => {
  stateDir = await mkdtemp(join(tmpdir(), 'runbook-'));
  await chmod(stateDir, 0o755);
  runbookCopy = join(stateDir, 'BACKUP_RUNBOOK.md');
  await copyFile(join(projectRoot, 'BACKUP_RUNBOOK.md'), runbookCopy);
  newHost = await startPostgresServer({ dataDir: join(stateDir, 'pg', 'new-host') });
  const { NODE_OPTIONS: _jestFlags, ...inherited } = process.env;
  env = {
    ...inherited,
    BACKUP_LOCAL_STATE_DIR: stateDir,
    BACKUP_SAMPLE_SCALE: '0.02',
    BACKUP_RUNBOOK_PATH: runbookCopy,
  };
}, 120_000);

afterAll(async () => {
  await newHost?.stop();
  await rm(stateDir, { recursive: true, force: true });
});

describe('BACKUP_RUNBOOK.md', () => {
  it('shows commands that all run against the local setup', async () => {
    const runbook = await readFile(join(projectRoot, 'BACKUP_RUNBOOK.md'), 'utf8');
    const shown = extractRunbookCommands(runbook);
    // Sanity of the extraction itself: the runbook's core procedures are all there.
    const texts = shown.map((c) => c.text);
    for (const expected of [
      'npx backupctl status',
      'npx backupctl verify latest',
      'npm run runbook:evidence',
    ]) {
      expect(texts).toContain(expected);
    }
    expect(texts.some((t) => t.startsWith('npx backupctl restore latest --target-url'))).toBe(true);
    expect(texts.some((t) => t.startsWith('npx backupctl drill'))).toBe(true);

    // A status before the first backup would rightly exit 1, so backups run first; the rest in order.
    const ordered = [
      ...shown.filter((c) => c.text.startsWith('npx backupctl backup')),
      ...shown.filter((c) => !c.text.startsWith('npx backupctl backup')),
    ];
    const majorRow = await withSession(parseConnectionUrl(newHost.url('postgres'), 'new host'), (session) =>
      session.query<{ major: string }>(`SELECT current_setting('server_version_num')::int / 10000 AS major`),
    );
    const placeholders: Record<string, () => Promise<string>> = {
      '<backup-id>': async () => {
        const list = await sh('npx backupctl list --json');
        const [newest] = JSON.parse(list.stdout) as { backupId: string; verified: boolean }[];
        if (!newest?.verified) throw new Error(`no verified backup to name: ${list.stdout}`);
        return newest.backupId;
      },
      '<major>': async () => String(majorRow.rows[0]?.major),
      // Where the operator wants the downloaded dump: a fresh directory of this run.
      '<directory>': async () => join(stateDir, `download-${Date.now()}`),
    };
    const fill = async (command: RunbookCommand): Promise<string> => {
      let text = command.text.replace(
        /postgres:\/\/owner@new-host:5432\/(\w+)/g,
        (_match, database: string) => newHost.url(database),
      );
      for (const [placeholder, value] of Object.entries(placeholders)) {
        if (text.includes(placeholder)) text = text.replaceAll(placeholder, await value());
      }
      const unknown = /<[a-z][\w-]*>/i.exec(text);
      if (unknown)
        throw new Error(`runbook line ${command.line}: unknown placeholder ${unknown[0]} in: ${text}`);
      return text;
    };

    const failures: string[] = [];
    let lastEvidenceKey: string | undefined;
    for (const command of ordered) {
      const text = await fill(command);
      if (command.kind === 'sql') {
        await onNewHost(text).catch((error: unknown) =>
          failures.push(`line ${command.line}: ${text}: ${error}`),
        );
        continue;
      }
      const result = await sh(text);
      lastEvidenceKey = /Evidence: (drills\/\S+\.json)/.exec(result.stdout)?.[1] ?? lastEvidenceKey;
      if (result.code !== 0) {
        failures.push(
          `line ${command.line}: ${command.text} exited ${result.code}\n${result.stdout.slice(-800)}\n${result.stderr.slice(-800)}`,
        );
      }
    }
    expect(failures).toEqual([]);

    // The evidence command rewrote the copy's generated section from the newest drill run just now,
    // and nothing outside the section.
    expect(lastEvidenceKey).toBeDefined();
    const section = extractEvidenceSection(await readFile(runbookCopy, 'utf8'));
    expect(section).toContain(`Full record: \`${lastEvidenceKey}\``);
    expect(section).toMatch(/\*\*PASSED\*\*/);
    const outsideSection = (text: string) =>
      text.replace(/<!-- restore-test-evidence:start[\s\S]*<!-- restore-test-evidence:end -->/, '');
    expect(outsideSection(await readFile(runbookCopy, 'utf8'))).toBe(outsideSection(runbook));
  }, 600_000);
});
