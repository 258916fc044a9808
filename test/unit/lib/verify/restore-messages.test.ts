import { describe, expect, it } from '@jest/globals';
import {
  classifyRestoreOutput,
  explainRestoreFailure,
  restoreSucceeded,
} from '../../../../lib/verify/restore-messages.ts';

// What pg_restore 18 prints restoring into a PostgreSQL 15 server (one error per connection, -j 2).
const transactionTimeout = [
  'pg_restore: error: could not execute query: ERROR:  unrecognized configuration parameter "transaction_timeout"',
  'pg_restore: detail: Command was: SET transaction_timeout = 0;',
];
const missingRelation = [
  'pg_restore: error: could not execute query: ERROR:  relation "categories" does not exist',
  'CONTEXT:  PL/pgSQL function public.category_label(text) line 1 at RETURN',
  'pg_restore: detail: Command was: CREATE INDEX products_by_label ON public.products USING btree (public.category_label(category));',
];
const lines = (...parts: (string | string[])[]) => parts.flat().join('\n');

describe('classifyRestoreOutput()', () => {
  it('lists transaction_timeout on an older server as benign and any other error as fatal', () => {
    const messages = classifyRestoreOutput(
      lines(
        transactionTimeout,
        missingRelation,
        transactionTimeout,
        'pg_restore: warning: errors ignored on restore: 3',
      ),
    );

    expect(messages.benign).toEqual([
      'could not execute query: ERROR:  unrecognized configuration parameter "transaction_timeout"',
      'could not execute query: ERROR:  unrecognized configuration parameter "transaction_timeout"',
    ]);
    expect(messages.fatal).toEqual(['could not execute query: ERROR:  relation "categories" does not exist']);
  });

  it('does not take an error that merely mentions transaction_timeout for the benign one', () => {
    const messages = classifyRestoreOutput(
      'pg_restore: error: could not execute query: ERROR:  invalid value for parameter "transaction_timeout": "-1"',
    );

    expect(messages.benign).toEqual([]);
    expect(messages.fatal).toHaveLength(1);
  });

  it('treats "errors ignored on restore" on its own as a failure, not a success', () => {
    const messages = classifyRestoreOutput('pg_restore: warning: errors ignored on restore: 2');

    expect(messages.benign).toEqual([]);
    expect(restoreSucceeded(messages, 1)).toBe(false);
  });

  it('does not count warnings, details and progress lines as errors', () => {
    const messages = classifyRestoreOutput(
      lines(
        'pg_restore: connecting to database for restore',
        'pg_restore: warning: could not find where to insert IF EXISTS in statement "-- empty"',
        'pg_restore: detail: Command was: SELECT 1;',
        'ERROR: this line does not come from pg_restore',
      ),
    );

    expect(messages).toMatchObject({ benign: [], fatal: [] });
    expect(messages.unexplained).toEqual(['ERROR: this line does not come from pg_restore']);
    expect(restoreSucceeded(messages, 0)).toBe(true);
  });
});

describe('classifyRestoreOutput() with pg_restore --jobs workers writing at once', () => {
  // Each worker writes "pg_restore: ", "error: " and the message as separate writes to the same
  // stderr, so two workers failing together interleave them. Seen in CI restoring into 14, -j 2.
  it('reads a benign error whose prefix another worker interleaved as that same benign error', () => {
    const messages = classifyRestoreOutput(
      lines(
        'pg_restore: error: pg_restore:could not execute query: ERROR:  unrecognized configuration parameter "transaction_timeout"',
        'error: could not execute query: ERROR:  unrecognized configuration parameter "transaction_timeout"',
        'pg_restore: detail: Command was: SET transaction_timeout = 0;',
        'pg_restore: detail: Command was: SET transaction_timeout = 0;',
        'pg_restore: warning: errors ignored on restore: 2',
      ),
    );

    expect(new Set(messages.benign)).toEqual(
      new Set([
        'could not execute query: ERROR:  unrecognized configuration parameter "transaction_timeout"',
      ]),
    );
    expect(messages.fatal).toEqual([]);
    expect(restoreSucceeded(messages, 1)).toBe(true);
  });

  it('still finds a fatal error whose prefix landed on the line of another worker', () => {
    const messages = classifyRestoreOutput(
      lines(
        'pg_restore: error: pg_restore: error: could not execute query: ERROR:  unrecognized configuration parameter "transaction_timeout"',
        'could not execute query: ERROR:  relation "categories" does not exist',
        'pg_restore: warning: errors ignored on restore: 2',
      ),
    );

    expect(messages.fatal).toEqual(['could not execute query: ERROR:  relation "categories" does not exist']);
    expect(restoreSucceeded(messages, 1)).toBe(false);
  });

  it('fails exit code 1 when a line it cannot account for came with the benign errors', () => {
    const messages = classifyRestoreOutput(
      lines(
        transactionTimeout,
        'could not read from input file: end of file',
        'errors ignored on restore: 2',
      ),
    );

    expect(messages.fatal).toEqual([]);
    expect(messages.unexplained).toEqual(['could not read from input file: end of file']);
    expect(restoreSucceeded(messages, 1)).toBe(false);
  });
});

describe('restoreSucceeded()', () => {
  it('accepts exit code 1 when every error pg_restore ignored is on the benign list', () => {
    const messages = classifyRestoreOutput(
      lines(transactionTimeout, transactionTimeout, 'pg_restore: warning: errors ignored on restore: 2'),
    );

    expect(restoreSucceeded(messages, 1)).toBe(true);
  });

  it('rejects any fatal error whatever the exit code', () => {
    expect(restoreSucceeded(classifyRestoreOutput(lines(missingRelation)), 0)).toBe(false);
  });

  it('rejects a non-zero exit that printed no error at all', () => {
    expect(restoreSucceeded(classifyRestoreOutput(''), 1)).toBe(false);
  });

  it('rejects a pg_restore killed by a signal even if it had only printed benign errors', () => {
    // On a server before 17 the benign error comes first, so a restore killed later (OOM, timeout)
    // has printed nothing else.
    const messages = classifyRestoreOutput(lines(transactionTimeout));

    expect(restoreSucceeded(messages, null)).toBe(false);
    expect(restoreSucceeded(messages, 137)).toBe(false);
  });
});

/**
 * Each cause from lines pg_restore and the server really wrote (captured on this machine on
 * 2026-12-07: restores into scratch servers 13, 15 and 18 whose data directory sat on a 120 MB tmpfs or
 * ext4 loop file system, into a server without pg_trgm, into one without the granted role, into one
 * under an address-space limit, with the restoring backend terminated or killed mid-COPY).
 */
describe('explainRestoreFailure()', () => {
  const explain = (stderr: (string | string[])[], log: string[] = []) =>
    explainRestoreFailure(classifyRestoreOutput(lines(...stderr)), log);

  it('names a full disk when a COPY could not extend its table (18, FileFallocate)', () => {
    expect(
      explain([
        'pg_restore: error: COPY failed for table "events": ERROR:  could not extend file "base/16384/16391" with FileFallocate(): No space left on device',
        'HINT:  Check free disk space.',
        'CONTEXT:  COPY events, line 606679',
        'pg_restore: warning: errors ignored on restore: 2',
      ]),
    ).toEqual({
      kind: 'disk-full',
      evidence:
        'COPY failed for table "events": ERROR:  could not extend file "base/16384/16391" with FileFallocate(): No space left on device',
      object: 'table events',
    });
  });

  it('names a full disk from a short write on tmpfs, which says nothing of space (13), among benign errors', () => {
    const cause = explain([
      transactionTimeout,
      'pg_restore: error: COPY failed for table "events": ERROR:  could not extend file "base/16384/16391": wrote only 4096 of 8192 bytes at block 9324',
      'HINT:  Check free disk space.',
      'CONTEXT:  COPY events, line 569179',
      transactionTimeout,
      'pg_restore: warning: errors ignored on restore: 4',
    ]);
    expect(cause).toMatchObject({ kind: 'disk-full', object: 'table events' });
  });

  it('names the index whose build filled the disk (18, its Command was: line)', () => {
    expect(
      explain([
        'pg_restore: error: could not execute query: ERROR:  could not extend file "base/16384/16394": wrote only 4096 of 8192 bytes at block 798',
        'HINT:  Check free disk space.',
        'Command was: CREATE INDEX events_a ON public.events USING btree (a);',
        'pg_restore: warning: errors ignored on restore: 2',
      ]),
    ).toMatchObject({ kind: 'disk-full', object: 'index events_a on public.events' });
  });

  it('names a full disk from the server log when pg_restore only lost its connection (18, -j 1: WAL writer PANIC)', () => {
    const stderr = [
      'pg_restore: error: error returned by PQputCopyData: server closed the connection unexpectedly',
      'This probably means the server terminated abnormally',
      'before or while processing the request.',
    ];
    const log = [
      '2026-12-07 07:34:02.128 UTC [17676] ERROR:  could not extend file "base/16384/16385" with FileFallocate(): No space left on device',
      '2026-12-07 07:34:02.128 UTC [17676] HINT:  Check free disk space.',
      '2026-12-07 07:34:02.128 UTC [17676] CONTEXT:  COPY events, line 357304',
      '2026-12-07 07:34:02.128 UTC [17676] STATEMENT:  COPY public.events (id, a, b, c) FROM stdin;',
      '2026-12-07 07:34:02.129 UTC [16963] PANIC:  could not write to file "pg_wal/xlogtemp.16963": No space left on device',
      '2026-12-07 07:34:02.130 UTC [16956] LOG:  WAL writer process (PID 16963) was terminated by signal 6: Aborted',
      '2026-12-07 07:34:02.130 UTC [16956] LOG:  terminating any other active server processes',
    ];

    expect(explain(stderr, log)).toEqual({
      kind: 'disk-full',
      evidence:
        'ERROR: could not extend file "base/16384/16385" with FileFallocate(): No space left on device',
    });
    // Without the log, the same pg_restore output is only a lost connection.
    expect(explain(stderr)).toMatchObject({ kind: 'connection-lost' });
    // A PANIC alone (no ERROR before it) is a full disk too.
    expect(explain(stderr, log.slice(4))).toMatchObject({
      kind: 'disk-full',
      evidence: 'PANIC: could not write to file "pg_wal/xlogtemp.16963": No space left on device',
    });
  });

  it('names the missing extension, in the words of 15+ and of 13', () => {
    expect(
      explain([
        'pg_restore: error: could not execute query: ERROR:  extension "pg_trgm" is not available',
        'HINT:  The extension must first be installed on the system where PostgreSQL is running.',
        'Command was: CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public;',
        'pg_restore: error: could not execute query: ERROR:  extension "pg_trgm" does not exist',
        "Command was: COMMENT ON EXTENSION pg_trgm IS 'text similarity measurement and index searching based on trigrams';",
        'pg_restore: error: could not execute query: ERROR:  operator class "public.gin_trgm_ops" does not exist for access method "gin"',
        'Command was: CREATE INDEX docs_trgm ON public.docs USING gin (body public.gin_trgm_ops);',
        'pg_restore: warning: errors ignored on restore: 4',
      ]),
    ).toMatchObject({ kind: 'extension-missing', extension: 'pg_trgm' });
    expect(
      explain([
        'pg_restore: error: could not execute query: ERROR:  could not open extension control file "/tmp/causes-exp/causes-13/bundle/share/postgresql/extension/pg_trgm.control": No such file or directory',
        'Command was: CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public;',
      ]),
    ).toMatchObject({ kind: 'extension-missing', extension: 'pg_trgm' });
  });

  it('names the missing role and what was granted to it, not the statement', () => {
    expect(
      explain([
        'pg_restore: error: could not execute query: ERROR:  role "reader" does not exist',
        'Command was: GRANT SELECT ON TABLE public.docs TO reader;',
        'pg_restore: warning: errors ignored on restore: 2',
      ]),
    ).toEqual({
      kind: 'role-missing',
      role: 'reader',
      evidence: 'could not execute query: ERROR:  role "reader" does not exist',
      object: 'table public.docs',
    });
  });

  it('names a backend out of memory and what it was building (18, a parallel index build)', () => {
    // Captured with the scratch server under a 1.25 GB address-space limit (ulimit -v), restoring
    // an index over 3,000,000 rows with the scratch server's maintenance_work_mem.
    expect(
      explain([
        'pg_restore: error: could not execute query: ERROR:  out of memory',
        'DETAIL:  Failed on request of size 48 in memory context "Caller tuples".',
        'CONTEXT:  parallel worker',
        'Command was: CREATE INDEX big_payload ON public.big USING btree (payload);',
        'pg_restore: warning: errors ignored on restore: 2',
      ]),
    ).toEqual({
      kind: 'out-of-memory',
      evidence: 'could not execute query: ERROR:  out of memory',
      object: 'index big_payload on public.big',
    });
  });

  it('names a crash the server log shows (18: a backend killed with SIGKILL, as by the OOM killer)', () => {
    expect(
      explain(
        ['pg_restore: error: error returned by PQputCopyData: server closed the connection unexpectedly'],
        [
          '2026-12-07 08:14:05.101 UTC [25791] LOG:  client backend (PID 25853) was terminated by signal 9: Killed',
          '2026-12-07 08:14:05.101 UTC [25791] DETAIL:  Failed process was running: COPY public.events (id, payload) FROM stdin;',
          '2026-12-07 08:14:05.101 UTC [25791] LOG:  terminating any other active server processes',
        ],
      ),
    ).toEqual({
      kind: 'server-crashed',
      evidence: [
        'LOG: client backend (PID 25853) was terminated by signal 9: Killed',
        'LOG: terminating any other active server processes',
      ],
    });
  });

  it('names a lost connection when the restoring session was terminated (13 and 18, -j 2)', () => {
    const cause = explain(
      [
        'pg_restore: error: error returned by PQputCopyData: server closed the connection unexpectedly',
        'This probably means the server terminated abnormally',
        'before or while processing the request.',
        'pg_restore: error: a worker process died unexpectedly',
      ],
      [
        '2026-12-07 07:35:37.639 UTC [19647] FATAL:  terminating connection due to administrator command',
        '2026-12-07 07:35:37.639 UTC [19647] CONTEXT:  COPY big, line 9486: "9486	5cce25ff8c3ce169488fe6c6f1ad3c97"',
      ],
    );
    expect(cause).toEqual({
      kind: 'connection-lost',
      evidence: 'error returned by PQputCopyData: server closed the connection unexpectedly',
    });
  });

  it('names no cause for an error it does not know, and never reads data from a CONTEXT line', () => {
    expect(explain(missingRelation)).toBeUndefined();
    expect(
      explain(
        [],
        [
          '2026-12-07 07:35:37.639 UTC [1] CONTEXT:  COPY big, line 1: "No space left on device"',
          '2026-12-07 07:35:37.639 UTC [1] CONTEXT:  COPY big, line 2: "[2] PANIC: was terminated by signal 9"',
        ],
      ),
    ).toBeUndefined();
  });
});
