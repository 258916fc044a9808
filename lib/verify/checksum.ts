/**
 * The Checksum step: read the stored dump once, recompute its SHA-256 and size, and feed the same
 * bytes to `pg_restore --list` to prove the archive's table of contents is readable. The outcome is
 * data; turning a mismatch into an error is the caller's decision (after recording it).
 */
import { createHash } from 'node:crypto';
import { ArchiveUnreadableError, describeError, StepTimeoutError } from '../errors.ts';
import type { PgBundle } from '../pg/client.ts';
import type { PgProcess, PgProcessOptions } from '../pg/process.ts';
import { type ProgressLog, reportProgress } from '../progress.ts';
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
  start(bundle: PgBundle, program: 'pg_restore', args: string[], options: PgProcessOptions): PgProcess;
}

export async function verifyStoredChecksum(
  store: BackupStore,
  key: string,
  expected: { sha256: string; bytes: number },
  lister: ArchiveLister,
  signal?: AbortSignal,
  log?: ProgressLog,
): Promise<ChecksumResult> {
  const started = Date.now();
  const progress = reportProgress(log, 'checksum', expected.bytes);
  const source = await store.getStream(key);
  const pgRestore = lister.start(lister.bundle, 'pg_restore', ['--list'], {
    stdin: 'pipe',
    stdout: 'pipe',
    signal,
  });
  const child = pgRestore.child;
  // Only the count of table-of-contents entries is kept, not the listing itself.
  let archiveEntries = 0;
  let partial = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    const lines = (partial + chunk.toString('utf8')).split('\n');
    partial = lines.pop() ?? '';
    archiveEntries += lines.filter((line) => /^\d+;/.test(line)).length;
  });
  const onAbort = () => source.destroy(new StepTimeoutError('checksum stopped before the Lambda timeout'));
  signal?.addEventListener('abort', onAbort, { once: true });
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
  try {
    for await (const chunk of source) {
      const buffer = chunk as Buffer;
      hash.update(buffer);
      bytes += buffer.length;
      progress.update(bytes);
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
  } catch (error) {
    // The download failed or the deadline fired: pg_restore must not outlive the step.
    pgRestore.stop();
    await pgRestore.exit.catch(() => undefined);
    throw error;
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
  progress.done();
  if (listerOpen) child.stdin?.end();
  const exit = await pgRestore.exit;
  if (exit.outcome === 'aborted') throw new StepTimeoutError('checksum stopped before the Lambda timeout');
  const actual = { sha256: hash.digest('hex'), bytes };
  const status = actual.sha256 === expected.sha256 && actual.bytes === expected.bytes ? 'match' : 'mismatch';
  if (status === 'match' && exit.outcome !== 'ok') {
    throw new ArchiveUnreadableError(
      `pg_restore --list could not read ${key} (exit ${exit.exitCode ?? exit.signal}): ${describeError(exit.lastLines.slice(-3).join(' | '))}`,
    );
  }
  if (/^\d+;/.test(partial)) archiveEntries++;
  return { status, expected, actual, archiveEntries, seconds: (Date.now() - started) / 1000 };
}
