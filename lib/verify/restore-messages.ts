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
  /** The first fatal errors (at most `maxKeptErrors`); `fatalCount` counts them all. */
  fatal: string[];
  fatalCount?: number;
}

/** A restore of a broken dump can print an error per object: keep the first ones, count the rest. */
const maxKeptErrors = 100;

/** Adds one line of pg_restore's stderr to `messages` if it is an error, benign or fatal. */
export function classifyRestoreLine(line: string, messages: RestoreMessages): void {
  const match = /^pg_restore: error: (.*)$/.exec(line.trim());
  if (!match?.[1]) return;
  const message = match[1];
  if (benignRestoreMessages.some((b) => b.pattern.test(message))) {
    if (messages.benign.length < maxKeptErrors) messages.benign.push(message);
    return;
  }
  messages.fatalCount = (messages.fatalCount ?? messages.fatal.length) + 1;
  if (messages.fatal.length < maxKeptErrors) messages.fatal.push(message);
}

/**
 * Splits pg_restore's stderr into benign and fatal errors. An error is the `pg_restore: error:` line
 * plus the `Command was:` line that may follow it; warnings and progress lines are not errors.
 * (The closing `errors ignored on restore: N` cannot be checked against the errors seen: with --jobs
 * pg_restore counts some errors twice.)
 */
export function classifyRestoreOutput(stderr: string): RestoreMessages {
  const messages: RestoreMessages = { benign: [], fatal: [] };
  for (const line of stderr.split('\n')) classifyRestoreLine(line, messages);
  return messages;
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
