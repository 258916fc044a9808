/**
 * The one table of backupctl's commands and options. The parser (node:util parseArgs), the checks of
 * what a command takes, the help pages (help.ts) and the options table in README.md
 * (`npm run docs:cli`) are all read from here, so they cannot drift apart; a test holds README's and
 * the runbook's command lines to it. Plain data: loading it loads no command (each is imported only
 * when it runs), so `--help` and `--version` stay instant.
 */
import type { ParseArgsConfig } from 'node:util';
import type { CommandContext } from './context.ts';

export type Run = (context: CommandContext) => Promise<number>;

export interface OptionSpec {
  type: 'boolean' | 'string';
  short?: string;
  /** A string option's value as help and the docs show it (`--reason TEXT`). */
  value?: string;
  /** One line: what the option does. */
  description: string;
}

export const options = {
  local: { type: 'boolean', description: 'run against the local services and .local/ state (the default)' },
  stage: {
    type: 'string',
    value: 'STAGE',
    description: 'run against the stage deployed from config/STAGE.yml, with the default AWS credentials',
  },
  region: {
    type: 'string',
    value: 'REGION',
    description: "with --stage: the stage's AWS region, if not its config's",
  },
  json: { type: 'boolean', description: 'machine-readable output on stdout' },
  verbose: {
    type: 'boolean',
    short: 'v',
    description: "local runs: print each step's JSON log line (kept in .local/logs/steps.log either way)",
  },
  help: { type: 'boolean', short: 'h', description: 'the overview, or with a command its page' },
  version: { type: 'boolean', description: "backupctl's version" },
  reason: {
    type: 'string',
    value: 'TEXT',
    description: 'why the run was started, kept in its record (audit shows it)',
  },
  compression: {
    type: 'string',
    value: 'zstd:1',
    description: "pg_dump's compression: zstd:1 (default), zstd:3, gzip:6, lz4 or none",
  },
  database: {
    type: 'string',
    value: 'NAME',
    description: 'one database of the server (its own vault); default: the one in the URL',
  },
  'all-databases': {
    type: 'boolean',
    description: 'every database of DATABASES / databases.backup, each in its own execution',
  },
  'target-url': {
    type: 'string',
    value: 'URL',
    description: 'the opted-in database to restore into (never production; the URL is never logged)',
  },
  jobs: { type: 'string', value: 'N', description: 'parallel pg_restore jobs, 1 to 64' },
  'with-roles': {
    type: 'boolean',
    description: "a new server: recreate the night's roles (no passwords), owners and grants",
  },
  'target-not-production': {
    type: 'boolean',
    description: 'your word that the target is another server, when the servers cannot tell',
  },
  'allow-unverified': { type: 'boolean', description: 'restore a backup that is not verified, saying why' },
  'counts-only': { type: 'boolean', description: 'compare row counts only, not content checksums' },
  out: { type: 'string', value: 'DIR', description: 'where the files go (default: the current directory)' },
  write: {
    type: 'boolean',
    description: 'put status.json, BACKUP_STATUS.md, badge.svg and index.html in the bucket',
  },
  open: { type: 'boolean', description: 'write the status page to DIR and open it on a desktop' },
  link: { type: 'boolean', description: "with --stage: a presigned link (1 h) to the stage's status page" },
  apply: { type: 'boolean', description: 'mark what the policy lets expire, as the daily pass does' },
  since: { type: 'string', value: '30d', description: 'how far back: 12h, 30d, 2w (default 30d)' },
  render: {
    type: 'boolean',
    description: "local only: restore Render's newest export and compare it with our nearest backup",
  },
  'send-test-alert': { type: 'boolean', description: 'send a test message to every alert channel' },
} as const satisfies Record<string, OptionSpec>;

export type OptionName = keyof typeof options;

/** What every command takes, besides its own options. */
export const commonOptions: readonly OptionName[] = [
  'local',
  'stage',
  'region',
  'json',
  'verbose',
  'help',
  'version',
];

/** Pairs that exclude each other, wherever both are taken. */
export const exclusiveOptions: readonly (readonly [OptionName, OptionName])[] = [
  ['database', 'all-databases'],
];

export interface CommandSpec {
  /** The positional argument, when the command takes one (a backup id, or `latest`). */
  argument?: { name: string; required: boolean };
  /** Its own options, in the synopsis's order. */
  options: readonly OptionName[];
  /** Options it cannot run without. */
  required?: readonly OptionName[];
  /** One line for the overview, continued on the next ones when it is long. */
  summary: readonly string[];
  details?: readonly string[];
  examples: readonly string[];
  /** A local run that starts servers: its first line comes before they are up. */
  localRun?: true;
  load: () => Promise<Run>;
}

const backupId = { name: 'id|latest', required: true } as const;

export const commands = {
  backup: {
    options: ['reason', 'compression', 'database', 'all-databases'],
    summary: ['run the backup state machine, printing each state'],
    details: [
      'Dumps production in an exported snapshot with counts and content checksums, promotes, checksums and',
      'verifies the backup on a scratch server. Exit 0 only when the backup is verified.',
      '--database backs up one database of the server; --all-databases runs the nightly run (the roles, then',
      'every database of DATABASES / databases.backup, each in its own execution) and prints one line each.',
    ],
    examples: [
      'npx backupctl backup --reason "before migration 42"',
      'npx backupctl backup --stage prod',
      'npx backupctl backup --stage prod --all-databases',
    ],
    localRun: true,
    load: async () => (await import('./commands/backup.ts')).backupCommand,
  },
  list: {
    options: ['database'],
    summary: ['backups with time, size, verified, SHA-256'],
    examples: ['npx backupctl list', 'npx backupctl list --stage prod --json'],
    load: async () => (await import('./commands/list.ts')).listCommand,
  },
  verify: {
    argument: backupId,
    options: ['database'],
    summary: ['re-hash the stored dump and read its archive'],
    examples: ['npx backupctl verify latest', 'npx backupctl verify 20261201T020000Z-a1b2c3 --stage prod'],
    load: async () => (await import('./commands/verify.ts')).verifyCommand,
  },
  restore: {
    argument: backupId,
    options: [
      'target-url',
      'jobs',
      'with-roles',
      'database',
      'target-not-production',
      'allow-unverified',
      'counts-only',
    ],
    required: ['target-url'],
    summary: [
      'restore on the worker into an opted-in database: checksum,',
      'production guard, pg_restore -j, counts and content checksums',
    ],
    details: [
      'The target database must have opted in (its owner runs',
      "COMMENT ON DATABASE <db> IS 'verified-pg-backups:restore-target'); production is refused. On a stage",
      'the URL travels as a secret of its own, never in the execution history.',
      "--with-roles (a new server): recreates the night's roles without passwords, restores with grants,",
      'gives every schema and relation its production owner and checks them (exit 3 if they differ).',
      '--target-not-production: your word that the target is another server, used only when the servers',
      'cannot tell (pg_control_system() not granted and production unreachable); never against evidence.',
      'The restored copy is compared like the nightly Verify: row counts and content checksums;',
      '--counts-only compares row counts alone (and says so). A backup that is not verified (no valid',
      'verification record, or a later check failed) is refused with the reason; --allow-unverified',
      'restores it anyway and prints why it is unverified.',
    ],
    examples: [
      'npx backupctl restore latest --target-url postgresql://owner@new-host:5432/app',
      'npx backupctl restore 20261201T020000Z-a1b2c3 --stage prod --target-url "$TARGET_URL" --jobs 4',
    ],
    localRun: true,
    load: async () => (await import('./commands/restore.ts')).restoreCommand,
  },
  download: {
    argument: backupId,
    options: ['out', 'database'],
    summary: [
      'the dump (checked against its manifest) and the manifest,',
      'for a restore by hand with pg_restore',
    ],
    examples: ['npx backupctl download latest --out ./restore', 'npx backupctl download latest --stage prod'],
    load: async () => (await import('./commands/download.ts')).downloadCommand,
  },
  retention: {
    options: ['apply'],
    summary: [
      'what the retention policy keeps (and why) and lets expire;',
      '--apply marks them as the daily pass does',
    ],
    examples: ['npx backupctl retention', 'npx backupctl retention --stage prod --json'],
    load: async () => (await import('./commands/retention.ts')).retentionCommand,
  },
  status: {
    options: ['write', 'open', 'out', 'link', 'database'],
    summary: [
      'backup status report (RPO, last failure, drill, trend);',
      '--write puts status.json, BACKUP_STATUS.md, badge.svg, index.html in the bucket',
    ],
    details: [
      '--open writes the status page (charts of 90 nights, no external requests) to',
      'DIR/backup-status-<stage>.html (DIR defaults to the current directory) and opens it on a desktop.',
      '--link writes the report to the bucket and prints a presigned link to its page, valid 1 hour:',
      'anyone holding the link can read the page until then.',
      'Exit 0 only when the newest verified backup is within the RPO.',
    ],
    examples: [
      'npx backupctl status',
      'npx backupctl status --open --out /tmp',
      'npx backupctl status --stage prod --link',
      'npx backupctl status --stage prod --json',
    ],
    load: async () => (await import('./commands/status.ts')).statusCommand,
  },
  audit: {
    options: ['since'],
    summary: ['executions of both state machines: trigger, steps, causes'],
    examples: ['npx backupctl audit --since 7d', 'npx backupctl audit --stage prod --json'],
    load: async () => (await import('./commands/audit.ts')).auditCommand,
  },
  check: {
    options: ['send-test-alert'],
    summary: ['is the setup ready for its first night? one line per check, with the fix'],
    details: [
      'Production reachable with TLS, the role able to read every table and sequence in full, a client',
      'and a scratch server for its major with its extensions, the bucket and its key, where the dump and',
      "the verification will run for the database's size, Render's own backups when configured, and the",
      'alert channels (a test message only with --send-test-alert). Exit 0 only when no check failed.',
    ],
    examples: ['npx backupctl check', 'npx backupctl check --stage prod --send-test-alert'],
    load: async () => (await import('./commands/check.ts')).checkCommand,
  },
  drill: {
    argument: { name: 'id|latest', required: false },
    options: ['reason', 'database', 'all-databases', 'render'],
    summary: ['restore drill into a fresh database, with evidence'],
    details: [
      'Restores onto a fresh scratch server, compares counts and content, runs the sanity checks and',
      'records the observed RTO and RPO under drills/.',
      "--render (local only): downloads Render's newest export through its signed link (streamed,",
      'SHA-256 recorded), restores it on a scratch server and compares its tables, row counts and',
      'extensions with our nearest verified backup; the record goes to provider/render/drills/.',
    ],
    examples: [
      'npx backupctl drill',
      'npx backupctl drill latest --stage prod --reason "quarterly"',
      'npx backupctl drill --render --local',
    ],
    localRun: true,
    load: async () => (await import('./commands/drill.ts')).drillCommand,
  },
} as const satisfies Record<string, CommandSpec>;

export type CommandName = keyof typeof commands;

export function commandOf(name: string): CommandSpec | undefined {
  return Object.hasOwn(commands, name) ? commands[name as CommandName] : undefined;
}

/** What parseArgs is given: every option of the table, with its type and short form. */
export const parseOptions: NonNullable<ParseArgsConfig['options']> = Object.fromEntries(
  Object.entries(options).map(([name, spec]) => [
    name,
    { type: spec.type, ...('short' in spec ? { short: spec.short } : {}) },
  ]),
);

/** `--name VALUE` or `--name`, as help and the docs write an option. */
export function optionUsage(name: OptionName): string {
  const spec: OptionSpec = options[name];
  return spec.value === undefined ? `--${name}` : `--${name} ${spec.value}`;
}

/** Every option a command takes, its own first. */
export function optionsOf(name: CommandName): OptionName[] {
  return [...commands[name].options, ...commonOptions];
}

/**
 * `restore <id|latest> --target-url URL [--jobs N] ...`: the argument, the required options bare, the
 * others in brackets, and an exclusive pair as `[--a | --b]`.
 */
export function synopsisOf(name: CommandName): string {
  const spec: CommandSpec = commands[name];
  const parts: string[] = [name];
  if (spec.argument)
    parts.push(spec.argument.required ? `<${spec.argument.name}>` : `[${spec.argument.name}]`);
  const shown = new Set<OptionName>();
  for (const option of spec.options) {
    if (shown.has(option)) continue;
    shown.add(option);
    if (spec.required?.includes(option)) {
      parts.push(optionUsage(option));
      continue;
    }
    const pair = exclusiveOptions.find((p) => p[0] === option && spec.options.includes(p[1]));
    if (pair) {
      shown.add(pair[1]);
      parts.push(`[${optionUsage(pair[0])} | ${optionUsage(pair[1])}]`);
    } else {
      parts.push(`[${optionUsage(option)}]`);
    }
  }
  return parts.join(' ');
}
