/**
 * The Dump step's exit ladder as one pure classification (lib/backup/dump-ending.ts): each way a dump
 * ends is named by its most specific cause, and a store failure is never blamed on the pg_dump we
 * stopped because of it.
 */
import { describe, expect, it } from '@jest/globals';
import { classifyDumpEnding, type DumpOutcome } from '../../../../lib/backup/dump-ending.ts';
import { BackupUnverifiedError, StorageUnavailableError } from '../../../../lib/errors.ts';
import type { PgExit } from '../../../../lib/pg/process.ts';

const exited = (outcome: PgExit['outcome'], lastLines: string[] = []): PgExit => ({
  program: 'pg_dump',
  exitCode: outcome === 'ok' ? 0 : 1,
  signal: null,
  outcome,
  firstLines: lastLines,
  lastLines,
  stderrLineCount: lastLines.length,
});

const outcome = (over: Partial<DumpOutcome>): DumpOutcome => ({
  exit: exited('ok'),
  aborted: false,
  uploadError: undefined,
  lockWaitTimedOut: false,
  connection: {
    host: 'db.example.com',
    port: 5432,
    user: 'owner',
    password: undefined,
    database: 'shop',
    sslmode: 'verify-full',
    sslrootcert: undefined,
  },
  dumpKey: 'incoming/x.dump',
  ...over,
});

const nameOf = (o: DumpOutcome) => {
  const ending = classifyDumpEnding(o);
  return ending.kind === 'failed' ? ending.error.name : ending.kind;
};

describe('classifyDumpEnding', () => {
  it('is complete when pg_dump exited 0 and the upload finished', () => {
    expect(classifyDumpEnding(outcome({}))).toEqual({ kind: 'complete' });
  });

  it('names the deadline first, whatever else went wrong', () => {
    expect(nameOf(outcome({ aborted: true, exit: exited('aborted'), uploadError: new Error('x') }))).toBe(
      'StepTimeoutError',
    );
  });

  it("names libpq's TLS refusal as node-postgres would", () => {
    const exit = exited('failed', ['pg_dump: error: connection to server failed: certificate verify failed']);
    expect(nameOf(outcome({ exit }))).toBe('DatabaseCertificateError');
  });

  it('hands a lock wait to the caller with the last stderr lines', () => {
    const exit = exited('failed', [
      'pg_dump: error: query failed: ERROR:  canceling statement due to statement timeout',
    ]);
    expect(classifyDumpEnding(outcome({ exit, lockWaitTimedOut: true }))).toEqual({
      kind: 'lock-wait',
      stderr: ['pg_dump: error: query failed: ERROR:  canceling statement due to statement timeout'],
    });
  });

  it("names pg_dump's own failure with its last lines, or says it gave none", () => {
    const failed = classifyDumpEnding(outcome({ exit: exited('failed', ['pg_dump: error: out of memory']) }));
    expect(failed.kind === 'failed' && failed.error.name).toBe('DumpFailedError');
    expect(failed.kind === 'failed' && failed.error.message).toContain('out of memory');
    const silent = classifyDumpEnding(outcome({ exit: exited('killed') }));
    expect(silent.kind === 'failed' && silent.error.message).toMatch(/no message$/);
  });

  it('blames the store, not the pg_dump it stopped, when the upload failed', () => {
    const stopped = exited('aborted', ['pg_dump: terminated by user']);
    expect(nameOf(outcome({ exit: stopped, uploadError: new Error('socket hang up') }))).toBe(
      'StorageUnavailableError',
    );
    const named = new StorageUnavailableError('bucket gone');
    const ending = classifyDumpEnding(outcome({ exit: stopped, uploadError: named }));
    expect(ending.kind === 'failed' && ending.error).toBe(named);
  });

  it("keeps a backup error of the upload's own, and pg_dump's failure beside a non-store error", () => {
    const own = new BackupUnverifiedError('not a store failure');
    expect(nameOf(outcome({ uploadError: own }))).toBe('BackupUnverifiedError');
    expect(nameOf(outcome({ exit: exited('failed', ['pg_dump: error: x']), uploadError: own }))).toBe(
      'DumpFailedError',
    );
  });
});
