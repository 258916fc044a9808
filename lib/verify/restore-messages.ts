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
   * The object each kept fatal error was about, where the line after it said (`Command was:`, a COPY's
   * CONTEXT): its kind and name only, never the statement (a comment, a setting, a value).
   */
  objects?: (string | undefined)[];
  /** The index in `fatal` of the error the next companion lines belong to (none after a benign one). */
  companionOf?: number | undefined;
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
  const owner = messages.companionOf;
  if (owner !== undefined && messages.objects?.[owner] === undefined) {
    const object = objectOf(message);
    if (object) {
      messages.objects ??= [];
      messages.objects[owner] = object;
    }
  }
  const isError = (levels.has('error') && !companions.test(message)) || errorWords.test(message);
  if (!isError) {
    // A line of pg_restore's own (progress, warning, detail) is accounted for; a bare one is not.
    if (!prefixed && !companions.test(message)) {
      messages.unexplained ??= [];
      if (messages.unexplained.length < maxKeptErrors) messages.unexplained.push(message);
    }
    return;
  }
  messages.companionOf = undefined;
  if (benignRestoreMessages.some((b) => b.pattern.test(message))) {
    if (messages.benign.length < maxKeptErrors) messages.benign.push(message);
    return;
  }
  messages.fatalCount = (messages.fatalCount ?? messages.fatal.length) + 1;
  if (messages.fatal.length < maxKeptErrors) {
    messages.fatal.push(message);
    messages.companionOf = messages.fatal.length - 1;
    const table = /^COPY failed for table "((?:[^"]|"")+)"/.exec(message)?.[1];
    if (table) {
      messages.objects ??= [];
      messages.objects[messages.fatal.length - 1] = `table ${table}`;
    }
  }
}

/** SQL names as pg_dump writes them: plain, schema-qualified, or double-quoted. */
const name = '(?:"(?:[^"]|"")+"|[^\\s"(;,]+)(?:\\.(?:"(?:[^"]|"")+"|[^\\s"(;,]+))*';
const objectPatterns: [RegExp, (m: RegExpExecArray) => string][] = [
  [
    new RegExp(`^Command was: CREATE (?:UNIQUE )?INDEX (${name}) ON (?:ONLY )?(${name})`),
    (m) => `index ${m[1]} on ${m[2]}`,
  ],
  [
    new RegExp(
      `^Command was: (?:GRANT|REVOKE) .*? ON (?:(TABLE|SEQUENCE|SCHEMA|FUNCTION|PROCEDURE|ROUTINE|TYPE|DOMAIN|LANGUAGE|LARGE OBJECT|FOREIGN DATA WRAPPER|FOREIGN SERVER|TABLESPACE|DATABASE) )?(${name})`,
    ),
    (m) => `${(m[1] ?? 'table').toLowerCase()} ${m[2]}`,
  ],
  [
    new RegExp(
      `^Command was: (?:CREATE|ALTER|COMMENT ON) (?:OR REPLACE )?(?:UNLOGGED )?(TABLE|VIEW|MATERIALIZED VIEW|SEQUENCE|FUNCTION|PROCEDURE|AGGREGATE|TYPE|DOMAIN|SCHEMA|EXTENSION|TRIGGER|POLICY|RULE|COLLATION|TEXT SEARCH CONFIGURATION|PUBLICATION|SUBSCRIPTION|EVENT TRIGGER|FOREIGN TABLE|SERVER|OPERATOR) (?:IF NOT EXISTS )?(?:ONLY )?(${name})`,
    ),
    (m) => `${(m[1] ?? '').toLowerCase()} ${m[2]}`,
  ],
  [new RegExp(`^CONTEXT: +COPY (${name}), line \\d+`), (m) => `table ${m[1]}`],
];

/** What a companion line says the error before it was about: kind and name, nothing else. */
function objectOf(companion: string): string | undefined {
  for (const [pattern, describe] of objectPatterns) {
    const match = pattern.exec(companion);
    if (match) return describe(match);
  }
  return undefined;
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

/**
 * Why a restore failed, where pg_restore's errors (or the scratch server's log) say it: the cause is
 * named in the alert instead of a list of errors to decode. Most of these are not the backup's fault.
 */
export type RestoreFailureCause =
  /** The server's disk filled up (a data file, WAL or a temporary file could not grow). */
  | { kind: 'disk-full'; evidence: string; object?: string | undefined }
  /** CREATE EXTENSION failed: the server has no such extension installed. */
  | { kind: 'extension-missing'; extension: string; evidence: string }
  /** A grant or owner names a role the server does not have. */
  | { kind: 'role-missing'; role: string; evidence: string; object?: string | undefined }
  /** A backend could not allocate memory. */
  | { kind: 'out-of-memory'; evidence: string; object?: string | undefined }
  /** The server crashed (a PANIC, a process killed by a signal) and restarted: its log says so. */
  | { kind: 'server-crashed'; evidence: string[] }
  /** pg_restore lost its connection (the server restarted, shut down, or ended the session). */
  | { kind: 'connection-lost'; evidence: string };

/** A full disk in PostgreSQL's words: ENOSPC, a short write (tmpfs), a quota, a file that cannot grow. */
const noSpace =
  /No space left on device|could not extend file|: wrote only \d+ of \d+ bytes|Disk quota exceeded/;
const extensionMissing = [
  /extension "((?:[^"]|"")+)" is not available/,
  /could not open extension control file "[^"]*\/([^"/]+)\.control"/,
];
const roleMissing = /role "((?:[^"]|"")+)" does not exist/;
const outOfMemory = /\bout of memory\b/;
const connectionLost =
  /server closed the connection unexpectedly|terminating connection|a worker process died unexpectedly|connection to server .* failed|could not connect to|no connection to the server|the database system is (?:in recovery mode|shutting down|starting up|not yet accepting connections)|lost synchronization with server/;
/**
 * A server log line's level and message (log_line_prefix `%m [%p] `); CONTEXT, STATEMENT and DETAIL
 * lines may quote data and are not read.
 */
const logMessage = /^[^[]*\[\d+\] (ERROR|FATAL|PANIC|LOG):\s+(.*)$/;
const crashed = /was terminated by signal \d+|terminating any other active server processes/;

/** The messages of a server log that may say why (errors, panics, crashes), without their prefixes. */
export function serverLogMessages(log: readonly string[]): { level: string; message: string }[] {
  return log.flatMap((line) => {
    const match = logMessage.exec(line);
    return match?.[1] && match[2] ? [{ level: match[1], message: match[2] }] : [];
  });
}

/**
 * The cause of a failed restore, from pg_restore's fatal errors and, for a server of ours, its log.
 * A full disk comes first (a crash or a lost connection is often only its consequence), then the
 * causes pg_restore names itself, then a crash the log shows, then a lost connection. Undefined when
 * the errors name no cause this knows: they are then shown as they are.
 */
export function explainRestoreFailure(
  messages: RestoreMessages,
  serverLog: readonly string[] = [],
): RestoreFailureCause | undefined {
  const errors = messages.fatal.map((message, i) => ({ message, object: messages.objects?.[i] }));
  const log = serverLogMessages(serverLog);
  const full = errors.find((e) => noSpace.test(e.message));
  if (full) return { kind: 'disk-full', evidence: full.message, object: full.object };
  const fullInLog = log.find((l) => l.level !== 'LOG' && noSpace.test(l.message));
  if (fullInLog) return { kind: 'disk-full', evidence: `${fullInLog.level}: ${fullInLog.message}` };
  for (const { message } of errors) {
    for (const pattern of extensionMissing) {
      const extension = pattern.exec(message)?.[1];
      if (extension)
        return { kind: 'extension-missing', extension: extension.replaceAll('""', '"'), evidence: message };
    }
  }
  const role = errors.find((e) => roleMissing.test(e.message));
  if (role) {
    const name = (roleMissing.exec(role.message)?.[1] ?? '').replaceAll('""', '"');
    return { kind: 'role-missing', role: name, evidence: role.message, object: role.object };
  }
  const memory = errors.find((e) => outOfMemory.test(e.message));
  if (memory) return { kind: 'out-of-memory', evidence: memory.message, object: memory.object };
  const crash = log.filter((l) => l.level === 'PANIC' || crashed.test(l.message));
  if (crash.length > 0)
    return { kind: 'server-crashed', evidence: crash.map((l) => `${l.level}: ${l.message}`) };
  const lost = errors.find((e) => connectionLost.test(e.message));
  if (lost) return { kind: 'connection-lost', evidence: lost.message };
  return undefined;
}
