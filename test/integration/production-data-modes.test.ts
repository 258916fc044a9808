/**
 * Files that hold production's data are this user's alone: the local bucket's directory, a dump the
 * scratch verification downloads, and `backupctl download`'s output are mode 0600 files in 0700
 * directories (the bucket: a 0700 directory around s3rver's own files). Checked as another local user,
 * `nobody`, the way anyone else on the machine would try: it must not read a byte of any of them.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { readManifest } from '../../lib/backup/catalog.ts';
import { downloadBackup } from '../../lib/commands/download.ts';
import { verifyBackup } from '../../lib/commands/verify-backup.ts';
import { readRuntimeSettings } from '../../lib/config.ts';
import { createRuntime } from '../../lib/runtime.ts';
import { answerAlertsInEachTest } from '../support/pipeline-assertions.ts';
import { type PipelineFixture, startPipelineFixture } from '../support/pipeline-fixture.ts';

answerAlertsInEachTest();

let fixture: PipelineFixture;
let settings: Record<string, string>;
let backupId: string;

beforeAll(async () => {
  fixture = await startPipelineFixture();
  settings = (await fixture.freshBucket()).settings;
  const backup = await fixture.run(settings);
  if (backup.status !== 'SUCCEEDED') throw new Error(`no backup: ${JSON.stringify(backup.error)}`);
  backupId = (backup.output as { dump: { backupId: string } }).dump.backupId;
}, 240_000);
afterAll(async () => {
  await fixture?.stop();
});

/** What `nobody` gets when it tries to read the file: its exit status and what it said. */
function readAsNobody(path: string): { status: number | null; stderr: string } {
  const result = spawnSync('runuser', ['-u', 'nobody', '--', 'head', '-c', '16', path], { encoding: 'utf8' });
  return { status: result.status, stderr: result.stderr };
}
const mode = async (path: string) => (await stat(path)).mode & 0o777;

async function filesUnder(dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) found.push(join(entry.parentPath, entry.name));
  }
  return found;
}

describe('files holding production data', () => {
  it('cannot be read by another local user in the local bucket', async () => {
    const bucketRoot = join(fixture.environment.stateDir, 's3');
    expect(await mode(bucketRoot)).toBe(0o700);
    const dumps = (await filesUnder(bucketRoot)).filter((file) => file.includes(backupId));
    expect(dumps.length).toBeGreaterThan(0);
    for (const file of dumps) {
      expect(readAsNobody(file)).toEqual({ status: 1, stderr: expect.stringContaining('Permission denied') });
    }
  });

  it('cannot be read by another local user while the scratch verification has it on disk', async () => {
    const runtime = createRuntime(readRuntimeSettings(settings));
    const manifest = await readManifest(runtime.store, backupId);
    const seen: {
      path: string;
      fileMode: number;
      dirMode: number;
      nobody: ReturnType<typeof readAsNobody>;
    }[] = [];
    const look = async () => {
      const base = settings.WORK_DIR ?? tmpdir();
      for (const file of await filesUnder(base).catch(() => [] as string[])) {
        if (!file.endsWith('backup.dump') || seen.some((s) => s.path === file)) continue;
        const dir = join(file, '..');
        if (!existsSync(file)) continue;
        seen.push({
          path: file,
          fileMode: await mode(file),
          dirMode: await mode(dir),
          nobody: readAsNobody(file),
        });
      }
    };
    let looking = Promise.resolve();
    const outcome = await verifyBackup(runtime, manifest, {
      target: 'scratch',
      log: {
        info: (_message, { progress }) => {
          if (progress.phase === 'restore' || progress.phase === 'download') looking = looking.then(look);
        },
      },
    });
    await looking;

    expect(outcome.compare.status).toBe('match');
    expect(seen.length).toBeGreaterThan(0);
    for (const found of seen) {
      expect(found).toMatchObject({
        fileMode: 0o600,
        dirMode: 0o700,
        nobody: { status: 1, stderr: expect.stringContaining('Permission denied') },
      });
    }
  });

  it('cannot be read by another local user after backupctl download', async () => {
    const runtime = createRuntime(readRuntimeSettings(settings));
    const parent = await mkdtemp(join(tmpdir(), 'download-modes-'));
    try {
      const out = join(parent, 'out');
      const downloaded = await downloadBackup(runtime, backupId, out);
      expect(await mode(out)).toBe(0o700);
      for (const file of [downloaded.dumpPath, downloaded.manifestPath]) {
        expect(await mode(file)).toBe(0o600);
        expect(readAsNobody(file)).toEqual({
          status: 1,
          stderr: expect.stringContaining('Permission denied'),
        });
      }
    } finally {
      await rm(parent, { recursive: true, force: true });
    }
  });
});
