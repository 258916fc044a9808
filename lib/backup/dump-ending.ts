/**
 * How a dump ended, read from pg_dump's exit, the upload's outcome and the step's deadline: one pure
 * classification (the Dump step's exit ladder), most specific cause first, so each ending is named once
 * and tested on its own (test/unit/lib/backup/dump-ending.test.ts).
 */
import {
  BackupError,
  DumpFailedError,
  describeError,
  StepTimeoutError,
  StorageUnavailableError,
} from '../errors.ts';
import type { PgConnection } from '../pg/connection.ts';
import { describeExit, type PgExit } from '../pg/process.ts';
import { libpqTlsError } from '../pg/tls.ts';

export type DumpEnding =
  | { kind: 'complete' }
  /** pg_dump gave up waiting for a table lock: the caller names who holds it (it needs a session). */
  | { kind: 'lock-wait'; stderr: string[] }
  | { kind: 'failed'; error: BackupError };

export interface DumpOutcome {
  exit: PgExit;
  /** The step's deadline fired (its signal aborted). */
  aborted: boolean;
  /** What the upload threw, if it did. */
  uploadError: unknown;
  /** pg_dump's stderr showed a statement timeout on its lock query. */
  lockWaitTimedOut: boolean;
  connection: PgConnection;
  dumpKey: string;
}

export function classifyDumpEnding(outcome: DumpOutcome): DumpEnding {
  const { exit, uploadError } = outcome;
  if (outcome.aborted)
    return {
      kind: 'failed',
      error: new StepTimeoutError('dump stopped before the Lambda timeout; upload aborted'),
    };
  // When the store failed we stopped pg_dump ourselves (it exits 1, "terminated by user"), so the
  // store's error is the cause to report, not pg_dump's exit.
  const storeFailed =
    uploadError !== undefined &&
    (!(uploadError instanceof BackupError) || uploadError instanceof StorageUnavailableError);
  const stderr = exit.lastLines.map((line) => describeError(line)).slice(-10);
  if (exit.outcome !== 'ok' && !storeFailed) {
    // pg_dump connects on its own (libpq): a TLS refusal there is the same verdict node-postgres names.
    const tlsRefusal = libpqTlsError(exit.lastLines, outcome.connection);
    if (tlsRefusal) return { kind: 'failed', error: tlsRefusal };
    if (outcome.lockWaitTimedOut) return { kind: 'lock-wait', stderr };
    return {
      kind: 'failed',
      error: new DumpFailedError(`${describeExit(exit)}${exit.lastLines.length ? '' : ': no message'}`, {
        details: { exitCode: exit.exitCode, signal: exit.signal, stderr },
      }),
    };
  }
  if (uploadError) {
    if (uploadError instanceof BackupError) return { kind: 'failed', error: uploadError };
    return {
      kind: 'failed',
      error: new StorageUnavailableError(
        `upload of ${outcome.dumpKey} failed: ${describeError(uploadError)}`,
        {
          cause: uploadError,
        },
      ),
    };
  }
  return { kind: 'complete' };
}
