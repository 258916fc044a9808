/**
 * The Dump step's first phase: the snapshot pg_dump reads, exported and held by one session (the
 * holder) with every table it dumps locked, so no table can be rewritten under the dump.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import {
  BackupError,
  describeError,
  SnapshotError,
  StepTimeoutError,
  TableLockedError,
  TablePrivilegeError,
  TableRewrittenDuringDumpError,
  TableRowSecurityError,
} from '../errors.ts';
import { type SequenceValue, sequenceValues } from '../pg/content.ts';
import { describeLockHolders } from '../pg/lock-holders.ts';
import { readOwnership } from '../pg/ownership.ts';
import {
  grantFix,
  type RelationAccess,
  readRelationAccess,
  rowSecurityFix,
  serverRefusal,
} from '../pg/privileges.ts';
import { listTables } from '../pg/row-counts.ts';
import { installedExtensions, quoteIdentifier, type Session } from '../pg/session.ts';
import { lockTablesForRead, tablesRewrittenSinceSnapshot } from '../pg/table-locks.ts';
import type { Manifest, ProofLevel } from './manifest.ts';

/**
 * A new snapshot after a table was rewritten under the previous one: a migration that truncates or
 * rewrites tables usually commits within seconds, so two more attempts spaced by a growing wait.
 */
export const rewriteRetryDelaysMs: readonly number[] = [2_000, 10_000];

/** The commands that give a table a new file, as the error names them (words in a message, not SQL). */
const rewritingCommands = 'TRUNCATE, ALTER TABLE, VACUUM FULL or CLUSTER';

export interface SnapshotOptions {
  /** The role pg_dump connects as: named in a missing privilege's fix. */
  user: string;
  lockWaitSeconds: number;
  /** `checksums`: the sequences' values are read with the snapshot. */
  proof: ProofLevel;
  /** The waits before each new snapshot after a rewrite; default `rewriteRetryDelaysMs`. */
  rewriteRetryDelaysMs?: readonly number[] | undefined;
  signal?: AbortSignal | undefined;
}

export interface LockedSnapshot {
  snapshotId: string;
  extensions: Manifest['extensions'];
  ownership: Manifest['ownership'];
  sequences: SequenceValue[];
  /** How many snapshots were dropped because a table was rewritten under them. */
  rewriteRetries: number;
}

/**
 * Exports the snapshot pg_dump will read on `holder` and, in that same transaction, locks every table
 * pg_dump dumps, before pg_dump starts. From then on no table can be rewritten until the dump ends (the
 * holder commits after pg_dump exits). A rewrite that committed between the export and the lock (a
 * transaction already running `TRUNCATE` or `ALTER TABLE ... TYPE` when the backup began) would make the
 * snapshot read the new, empty file: such a snapshot is dropped and a new one taken, and after
 * `rewriteRetryDelaysMs` run out the dump fails with TableRewrittenDuringDumpError. Nothing has been
 * uploaded yet, so there is nothing to abort. Tables the role cannot read in full fail first, with the
 * query `backupctl check` runs.
 */
export async function exportSnapshot(holder: Session, options: SnapshotOptions): Promise<LockedSnapshot> {
  const delays = options.rewriteRetryDelaysMs ?? rewriteRetryDelaysMs;
  for (let attempt = 0; ; attempt++) {
    try {
      await holder.query('BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY');
      const { rows } = await holder.query<{ id: string }>('SELECT pg_export_snapshot() AS id');
      const snapshotId = rows[0]?.id ?? '';
      const extensions = await installedExtensions(holder);
      const ownership = await readOwnership(holder);
      const access = await readRelationAccess(holder);
      if (access.unreadable.length > 0 || access.rowSecurity.length > 0) {
        throw accessError(options.user, access, await serverRefusal(holder, access));
      }
      await lockTablesForRead(holder, await listTables(holder), options.lockWaitSeconds, 'the dump');
      const rewritten = await tablesRewrittenSinceSnapshot(holder);
      if (rewritten.length === 0) {
        // Not transactional: read now, before pg_dump reads them, so a restored one is never behind.
        const sequences = options.proof === 'checksums' ? await sequenceValues(holder) : [];
        return { snapshotId, extensions, ownership, sequences, rewriteRetries: attempt };
      }
      await holder.query('ROLLBACK');
      const wait = delays[attempt];
      if (wait === undefined) {
        throw new TableRewrittenDuringDumpError(
          `${rewritten.join(', ')} ${rewritten.length === 1 ? 'was' : 'were'} rewritten (${rewritingCommands}) after the dump's snapshot was taken and before its tables were locked (${attempt + 1} ${attempt === 0 ? 'attempt' : 'attempts in a row'}); a dump would have read ${rewritten.length === 1 ? 'it' : 'them'} empty or incomplete`,
          { details: { tables: rewritten.slice(0, 50), attempts: attempt + 1 } },
        );
      }
      await sleep(wait, undefined, options.signal ? { signal: options.signal } : {}).catch(() => undefined);
      if (options.signal?.aborted) throw new StepTimeoutError('dump stopped before the Lambda timeout');
    } catch (error) {
      if (error instanceof BackupError) throw error;
      throw new SnapshotError(`could not export a snapshot: ${describeError(error)}`, { cause: error });
    }
  }
}

/**
 * pg_dump gave up waiting for a table lock: the holder, still in its transaction, names who holds it.
 */
export async function lockWaitError(
  holder: Session,
  lockWaitSeconds: number,
  details: { exitCode: number | null; stderr: string[] },
): Promise<TableLockedError> {
  return new TableLockedError(
    `pg_dump waited ${lockWaitSeconds} s for a table lock and gave up: ${await describeLockHolders(holder)}`,
    { details: { lockWaitSeconds, ...details } },
  );
}

/**
 * What `backupctl check` says about the same relations, as a named error: unreadable ones first (the
 * GRANT to run), else those row-level security would filter.
 */
function accessError(user: string, access: RelationAccess, refusal: string | undefined): BackupError {
  const list = (names: string[]) => names.slice(0, 10).join(', ') + (names.length > 10 ? ', ...' : '');
  const said = refusal ? ` (PostgreSQL: ${describeError(refusal)})` : '';
  if (access.unreadable.length > 0) {
    return new TablePrivilegeError(
      `${quoteIdentifier(user)} may not read ${list(access.unreadable)}: ${grantFix(
        user,
        access.refused.filter((r) => !r.readable),
      )}${said}`,
      { details: { tables: access.unreadable.slice(0, 50), rowSecurity: access.rowSecurity.slice(0, 50) } },
    );
  }
  return new TableRowSecurityError(
    `row-level security applies to ${quoteIdentifier(user)} on ${list(access.rowSecurity)}: pg_dump would fail on ${access.rowSecurity.length === 1 ? 'it' : 'them'} rather than dump only the rows its policies show; ${rowSecurityFix}${said}`,
    { details: { tables: access.rowSecurity.slice(0, 50) } },
  );
}
