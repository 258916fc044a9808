/**
 * pg_restore's errors are classified one by one, never ignored wholesale: "errors ignored on restore"
 * with exit code 1 is exactly how other tools turned broken restores into green checks. A message is
 * benign only if it matches this short, explicit list; anything else fails the restore.
 */

export interface BenignMessage {
  pattern: RegExp;
  why: string;
}

export const benignRestoreMessages: readonly BenignMessage[] = [
  {
    pattern: /unrecognized configuration parameter "transaction_timeout"/,
    why: 'pg_dump 17+ writes SET transaction_timeout, which servers before 17 do not know; it only affects the restore session',
  },
  {
    pattern: /must be owner of extension plpgsql/,
    why: 'COMMENT ON EXTENSION plpgsql needs the extension owner; the comment is cosmetic and plpgsql is built in',
  },
];

export interface RestoreMessages {
  benign: string[];
  fatal: string[];
}

/**
 * Splits pg_restore's stderr into benign and fatal errors. An error is the `pg_restore: error:` line
 * plus the `Command was:` line that may follow it; warnings and progress lines are not errors.
 * (The closing `errors ignored on restore: N` cannot be checked against the errors seen: with --jobs
 * pg_restore counts some errors twice.)
 */
export function classifyRestoreOutput(stderr: string): RestoreMessages {
  const benign: string[] = [];
  const fatal: string[] = [];
  for (const line of stderr.split('\n')) {
    const match = /^pg_restore: error: (.*)$/.exec(line.trim());
    if (!match?.[1]) continue;
    const message = match[1];
    if (benignRestoreMessages.some((b) => b.pattern.test(message))) benign.push(message);
    else fatal.push(message);
  }
  return { benign, fatal };
}

/**
 * pg_restore exits 0 on a clean restore and 1 after ignoring errors. Only those two mean it ran to its
 * end: any other exit (a signal such as the OOM killer's, a crash) is a failure even if everything it
 * printed before dying was benign, as the benign transaction_timeout error is printed first.
 */
export function restoreSucceeded(messages: RestoreMessages, exitCode: number | null): boolean {
  if (messages.fatal.length > 0) return false;
  return exitCode === 0 || (exitCode === 1 && messages.benign.length > 0);
}
