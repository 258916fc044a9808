/**
 * The Checksum step: read the stored dump once, recompute its SHA-256 and size, and feed the same
 * bytes to `pg_restore --list` to prove the archive's table of contents is readable. The outcome is
 * data; turning a mismatch into an error is the caller's decision (after recording it).
 */
import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { ArchiveUnreadableError, describeError } from '../errors.ts';
import type { PgBundle } from '../pg/client.ts';
import type { BackupStore } from '../storage/backup-store.ts';

export interface ChecksumResult {
  status: 'match' | 'mismatch';
  expected: { sha256: string; bytes: number };
  actual: { sha256: string; bytes: number };
  /** Entries in the archive's table of contents (pg_restore --list). */
  archiveEntries: number;
  /** Wall time of the download + hash + listing pass: part of a restore's RTO (verify before restore). */
  seconds: number;
}

export interface ArchiveLister {
  bundle: PgBundle;
  spawn(
    bundle: PgBundle,
    program: 'pg_restore',
    args: string[],
    options: { stdio: ['pipe', 'pipe', 'pipe'] },
  ): ChildProcess;
}

export async function verifyStoredChecksum(
  store: BackupStore,
  key: string,
  expected: { sha256: string; bytes: number },
  lister: ArchiveLister,
): Promise<ChecksumResult> {
  const started = Date.now();
  const source = await store.getStream(key);
  const child = lister.spawn(lister.bundle, 'pg_restore', ['--list'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let listing = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    listing += chunk.toString('utf8');
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
  });
  const exited = new Promise<number | null>((resolveExit, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolveExit(code));
  });
  // pg_restore --list stops reading once it has the table of contents; the hash must see every byte.
  let listerOpen = true;
  child.stdin?.on('error', () => {
    listerOpen = false;
  });
  child.stdin?.on('close', () => {
    listerOpen = false;
  });

  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of source) {
    const buffer = chunk as Buffer;
    hash.update(buffer);
    bytes += buffer.length;
    if (listerOpen && child.stdin && !child.stdin.write(buffer)) {
      await new Promise<void>((drained) => {
        const done = () => {
          child.stdin?.off('drain', done);
          child.stdin?.off('close', done);
          drained();
        };
        child.stdin?.once('drain', done);
        child.stdin?.once('close', done);
      });
    }
  }
  if (listerOpen) child.stdin?.end();
  const code = await exited;
  const actual = { sha256: hash.digest('hex'), bytes };
  const status = actual.sha256 === expected.sha256 && actual.bytes === expected.bytes ? 'match' : 'mismatch';
  if (status === 'match' && code !== 0) {
    throw new ArchiveUnreadableError(
      `pg_restore --list could not read ${key} (exit ${code}): ${describeError(stderr.trim().split('\n').slice(-3).join(' | '))}`,
    );
  }
  const archiveEntries = listing.split('\n').filter((line) => /^\d+;/.test(line)).length;
  return { status, expected, actual, archiveEntries, seconds: (Date.now() - started) / 1000 };
}
