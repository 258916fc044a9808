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
