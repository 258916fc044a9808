/**
 * backupctl: drive the pipeline from a terminal. This file only parses and dispatches; each command is
 * one file in commands/, and what they do lives in lib/commands/ (shared with the Lambda steps).
 * Exit codes (documented in README and the runbook): 0 ok, 1 failed, 2 usage or configuration error,
 * 3 verification failed (checksum, archive, counts, content); 130 when Ctrl-C stopped following an execution on
 * a stage (the execution keeps running), 130 / 143 when Ctrl-C / `kill` stopped a local run where it was. `--local` runs against local services, `--stage <stage>`
 * against a deployed stage.
 */
import { readFileSync } from 'node:fs';
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { BackupError, describeError } from '../../lib/errors.ts';
import { painter } from './colour.ts';
import type { CliDependencies, CommandContext, Output, Values } from './context.ts';
import { exitCodes } from './exit-codes.ts';
import { commandHelp, commandHelpText, suggestCommand, suggestOption, usageText } from './help.ts';

export type { CliDependencies };
export { exitCodes };

const commonOptions = ['json', 'local', 'stage', 'region', 'help', 'verbose'];

type Run = (context: CommandContext) => Promise<number>;

/**
 * Each command, the options it reads (anything else is a mistake, not something to ignore) and its
 * code, loaded only when it runs: `--help` and `--version` never load the AWS SDK or the pg client.
 */
const commands: Record<string, { options: string[]; load: () => Promise<Run>; localRun?: true }> = {
  backup: {
    localRun: true,
    options: ['reason', 'compression', 'database', 'all-databases'],
    load: async () => (await import('./commands/backup.ts')).backupCommand,
  },
  list: { options: ['database'], load: async () => (await import('./commands/list.ts')).listCommand },
  verify: { options: ['database'], load: async () => (await import('./commands/verify.ts')).verifyCommand },
  restore: {
    localRun: true,
    options: [
      'target-url',
      'jobs',
      'with-roles',
      'database',
      'target-not-production',
      'allow-unverified',
      'counts-only',
    ],
    load: async () => (await import('./commands/restore.ts')).restoreCommand,
  },
  download: {
    options: ['out', 'database'],
    load: async () => (await import('./commands/download.ts')).downloadCommand,
  },
  retention: {
    options: ['apply'],
    load: async () => (await import('./commands/retention.ts')).retentionCommand,
  },
  status: {
    options: ['write', 'open', 'link', 'out', 'database'],
    load: async () => (await import('./commands/status.ts')).statusCommand,
  },
  audit: { options: ['since'], load: async () => (await import('./commands/audit.ts')).auditCommand },
  drill: {
    localRun: true,
    options: ['reason', 'database', 'all-databases', 'render'],
    load: async () => (await import('./commands/drill.ts')).drillCommand,
  },
  check: {
    options: ['send-test-alert'],
    load: async () => (await import('./commands/check.ts')).checkCommand,
  },
};

function version(): string {
  const manifest = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version?: string;
  };
  return `backupctl ${manifest.version ?? 'unknown'}`;
}

/**
 * What the AWS SDK says when it has no credentials or they are refused, as something to act on. A
 * message is matched by the error's name, never echoed with its details (they may name a profile path).
 */
function awsCredentialsProblem(error: unknown): string | undefined {
  const name = (error as { name?: string })?.name ?? '';
  if (name === 'CredentialsProviderError') {
    return 'no AWS credentials found for --stage: set AWS_PROFILE (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), or run `aws sso login`';
  }
  if (
    [
      'ExpiredTokenException',
      'ExpiredToken',
      'UnrecognizedClientException',
      'InvalidClientTokenId',
      'InvalidSignatureException',
    ].includes(name)
  ) {
    return `AWS refused the credentials (${name}): they are expired or not for this account; renew them (e.g. \`aws sso login\`) and try again`;
  }
  return undefined;
}

/** Every option of every command: parseArgs checks them, and a typo is matched against them. */
const cliOptions = {
  json: { type: 'boolean' },
  local: { type: 'boolean' },
  stage: { type: 'string' },
  region: { type: 'string' },
  reason: { type: 'string' },
  compression: { type: 'string' },
  'target-url': { type: 'string' },
  jobs: { type: 'string' },
  out: { type: 'string' },
  write: { type: 'boolean' },
  database: { type: 'string' },
  'all-databases': { type: 'boolean' },
  render: { type: 'boolean' },
  'with-roles': { type: 'boolean' },
  'target-not-production': { type: 'boolean' },
  'allow-unverified': { type: 'boolean' },
  'counts-only': { type: 'boolean' },
  open: { type: 'boolean' },
  link: { type: 'boolean' },
  apply: { type: 'boolean' },
  since: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
  'send-test-alert': { type: 'boolean' },
  verbose: { type: 'boolean', short: 'v' },
} as const satisfies ParseArgsConfig['options'];

/**
 * One line for what parseArgs refused: the option a typo meant, and where the command's options are
 * listed (a whole usage page would scroll the suggestion off an 80x24 terminal).
 */
function parseErrorLine(error: unknown, argv: readonly string[]): string {
  const command = argv.find((arg) => !arg.startsWith('-'));
  const help =
    command !== undefined && command in commandHelp
      ? `backupctl help ${command} shows its options`
      : 'backupctl --help shows the commands';
  // Duck-typed: an error from node:util may come from another realm (Jest's VM) than this module's Error.
  const { code, message } = (typeof error === 'object' && error !== null ? error : {}) as {
    code?: unknown;
    message?: unknown;
  };
  const text = typeof message === 'string' ? message : String(error);
  const unknown =
    code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' ? /Unknown option '(-{1,2}[^']+)'/.exec(text)?.[1] : undefined;
  if (unknown) {
    const suggestion = suggestOption(unknown.replace(/^-+/, ''), Object.keys(cliOptions));
    return `unknown option ${unknown}${suggestion ? `: did you mean --${suggestion}?` : ''} (${help})`;
  }
  return `${text.split('. ')[0]} (${help})`;
}

export async function main(argv: string[], deps: CliDependencies = {}): Promise<number> {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: cliOptions,
    });
  } catch (error) {
    console.error(`backupctl: ${parseErrorLine(error, argv)}`);
    return exitCodes.usage;
  }
  const { positionals } = parsed;
  const values = parsed.values as Values;
  const json = values.json === true;
  const out: Output = {
    json,
    print: (human, data) => console.log(json ? JSON.stringify(data, null, 2) : human),
    paint: painter(!json && deps.colour !== false),
  };
  const [name, target, ...rest] = positionals;
  if (values.version) {
    console.log(version());
    return exitCodes.ok;
  }
  if (name === 'help') {
    if (!target) {
      console.log(usageText());
      return exitCodes.ok;
    }
    const page = commandHelpText(target);
    if (page) {
      console.log(page);
      return exitCodes.ok;
    }
    return unknownCommand(target);
  }
  if (!name) {
    console.log(usageText());
    return values.help ? exitCodes.ok : exitCodes.usage;
  }
  const command = commands[name];
  if (!command) return unknownCommand(name);
  if (values.help) {
    console.log(commandHelpText(name));
    return exitCodes.ok;
  }
  const stray = Object.keys(values).filter(
    (option) => !commonOptions.includes(option) && !command.options.includes(option),
  );
  if (stray.length > 0) {
    console.error(
      `${name} does not take ${stray.map((option) => `--${option}`).join(', ')}\n\n${commandHelpText(name)}`,
    );
    return exitCodes.usage;
  }
  if (rest.length > 0) {
    console.error(`unexpected arguments: ${rest.join(' ')}\n\n${commandHelpText(name)}`);
    return exitCodes.usage;
  }
  // A local run's first line comes now, not after seconds of loading its modules and starting servers;
  // like the progress line, only on a terminal (a script's or cron's stderr stays quiet).
  if (command.localRun && values.stage === undefined && !json && process.stderr.isTTY) {
    console.error('Starting the local servers…');
  }
  const { exitCodeFor, placeOf } = await import('./context.ts');
  try {
    // Flags and the stage's config are checked before anything starts or any AWS API is called.
    if (values.since !== undefined)
      (await import('../../lib/report/audit.ts')).parseSince(String(values.since));
    const place = placeOf(values, deps);
    const run = await command.load();
    return await run({ target, values, place, out, deps });
  } catch (error) {
    const credentials = awsCredentialsProblem(error);
    const errorName = credentials
      ? 'ConfigurationError'
      : error instanceof BackupError
        ? error.name
        : 'Error';
    const message = credentials ? `ConfigurationError: ${credentials}` : describeError(error);
    if (json) console.log(JSON.stringify({ error: errorName, message }, null, 2));
    else console.error(message);
    return credentials ? exitCodes.usage : exitCodeFor(error);
  }
}

function unknownCommand(name: string): number {
  const suggestion = suggestCommand(name);
  console.error(
    `unknown command "${name}"${suggestion ? `: did you mean "${suggestion}"?` : ''}\n\n${usageText()}`,
  );
  return exitCodes.usage;
}
