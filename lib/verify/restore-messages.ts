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
  /**
   * Lines that are neither an error nor a known companion of one (a command, a detail, a warning).
   * They do not fail a clean restore (exit 0), but an exit 1 must be fully accounted for.
   */
  unexplained?: string[];
}

/** A restore of a broken dump can print an error per object: keep the first ones, count the rest. */
const maxKeptErrors = 100;

/**
 * pg_restore writes "pg_restore: ", the level ("error: ") and the message as separate writes, and
 * its --jobs workers share one stderr: two workers failing together interleave those pieces, so a
 * line can carry another worker's prefix, or a message can arrive with no prefix at all. The
 * prefixes are therefore peeled off wherever they pile up, and a message is recognized as an error
 * by its level or by its own words.
 */
const prefix = /^(?:pg_restore:|(error|warning|detail|hint):)\s*/;
const errorWords = /^(?:could not execute query: |COPY failed for table )/;
/** What accompanies an error or ends a restore that ignored some: never an error on its own. */
const companions =
  /^(?:Command was: |(?:CONTEXT|DETAIL|HINT|LINE \d+|QUERY|LOCATION): |errors ignored on restore: \d+$)/;

/** Adds one line of pg_restore's stderr to `messages` if it is an error, benign or fatal. */
export function classifyRestoreLine(line: string, messages: RestoreMessages): void {
  let message = line.trim();
  const levels = new Set<string>();
  let prefixed = false;
  for (let peeled = prefix.exec(message); peeled; peeled = prefix.exec(message)) {
    prefixed = true;
    if (peeled[1]) levels.add(peeled[1]);
    message = message.slice(peeled[0].length);
  }
  if (message === '') return;
  const isError = (levels.has('error') && !companions.test(message)) || errorWords.test(message);
  if (!isError) {
    // A line of pg_restore's own (progress, warning, detail) is accounted for; a bare one is not.
    if (!prefixed && !companions.test(message)) {
      messages.unexplained ??= [];
      if (messages.unexplained.length < maxKeptErrors) messages.unexplained.push(message);
    }
    return;
  }
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
  if (exitCode === 0) return true;
  return exitCode === 1 && messages.benign.length > 0 && (messages.unexplained ?? []).length === 0;
}
