import { describe, expect, it } from '@jest/globals';
import { classifyRestoreOutput, restoreSucceeded } from '../../../../lib/verify/restore-messages.ts';

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
