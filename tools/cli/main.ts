/**
 * backupctl: drive the pipeline from a terminal. This file only parses and dispatches, as the command
 * table (command-table.ts) declares: each command's options, argument and required options, checked
 * here before anything loads; each command is one file in commands/, and what they do lives in
 * lib/commands/ (shared with the Lambda steps). Exit codes: exit-codes.ts. `--local` runs against local
 * services, `--stage <stage>` against a deployed stage.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { BackupError, describeError } from '../../lib/errors.ts';
import { painter } from './colour.ts';
import {
  type CommandName,
  type CommandSpec,
  commandOf,
  commands,
  exclusiveOptions,
  type OptionName,
  options,
  optionsOf,
  optionUsage,
  parseOptions,
} from './command-table.ts';
import type { CliDependencies, Output, Values } from './context.ts';
import { exitCodes } from './exit-codes.ts';
import { commandHelpText, suggestCommand, suggestOption, usageText } from './help.ts';

export type { CliDependencies };
export { exitCodes };

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

/** Where a usage error's reader finds the options: the command's page, or the overview. */
function helpHint(command: string | undefined): string {
  return command !== undefined && commandOf(command)
    ? `backupctl help ${command} shows its options`
    : 'backupctl --help shows the commands';
}

/**
 * One line for what parseArgs refused: the option a typo meant, or the value an option lacks, and
 * where the command's options are listed (a whole usage page would scroll the suggestion off an 80x24
 * terminal).
 */
function parseErrorLine(error: unknown, argv: readonly string[]): string {
  const command = argv.find((arg) => !arg.startsWith('-'));
  const help = helpHint(command);
  // Duck-typed: an error from node:util may come from another realm (Jest's VM) than this module's Error.
  const { code, message } = (typeof error === 'object' && error !== null ? error : {}) as {
    code?: unknown;
    message?: unknown;
  };
  const text = typeof message === 'string' ? message : String(error);
  const unknown =
    code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' ? /Unknown option '(-{1,2}[^']+)'/.exec(text)?.[1] : undefined;
  if (unknown) {
    const known = command !== undefined && commandOf(command) ? optionsOf(command as CommandName) : undefined;
    const suggestion = suggestOption(unknown.replace(/^-+/, ''), known ?? Object.keys(options));
    return `unknown option ${unknown}${suggestion ? `: did you mean --${suggestion}?` : ''} (${help})`;
  }
  const option = /Option '--([a-z-]+)/.exec(text)?.[1];
  if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' && option && Object.hasOwn(options, option)) {
    const usage = optionUsage(option as OptionName);
    if (/does not take an argument/.test(text)) return `--${option} takes no value (${help})`;
    if (/ambiguous/.test(text)) {
      return `--${option} needs a value: ${usage} (one that starts with a dash as --${option}=-VALUE) (${help})`;
    }
    return `--${option} needs a value: ${usage} (${help})`;
  }
  return `${text.split('. ')[0]} (${help})`;
}

/**
 * What the table says a command's arguments must be: only its own and the common options, not two
 * that exclude each other, its argument when it needs one and nothing more, and its required options.
 * Returns the problem in one line, or undefined.
 */
export function usageProblem(name: CommandName, values: Values, args: readonly string[]): string | undefined {
  const spec: CommandSpec = commands[name];
  const taken = optionsOf(name);
  const given = Object.keys(values).filter((option) => values[option] !== undefined);
  const stray = given.filter((option) => !(taken as string[]).includes(option));
  if (stray.length > 0) return `${name} does not take ${stray.map((option) => `--${option}`).join(', ')}`;
  const both = exclusiveOptions.find(([a, b]) => given.includes(a) && given.includes(b));
  if (both) return `--${both[0]} and --${both[1]} exclude each other`;
  if (!spec.argument && args.length > 0) return `${name} takes no argument, but was given: ${args.join(' ')}`;
  if (args.length > 1)
    return `${name} takes one argument (${spec.argument?.name}), but was given: ${args.join(' ')}`;
  if (spec.argument?.required && args.length === 0) return `${name} needs <${spec.argument.name}>`;
  const missing = (spec.required ?? []).filter((option) => values[option] === undefined);
  if (missing.length > 0) return `${name} needs ${missing.map(optionUsage).join(' ')}`;
  return undefined;
}

export async function main(argv: string[], deps: CliDependencies = {}): Promise<number> {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: parseOptions,
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
  const [name, ...args] = positionals;
  const [target] = args;
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
  const command = commandOf(name);
  if (!command) return unknownCommand(name);
  if (values.help) {
    console.log(commandHelpText(name));
    return exitCodes.ok;
  }
  const problem = usageProblem(name as CommandName, values, args);
  if (problem) {
    // A usage error is an InputValidationError like any other (exit 2), said in one line with the hint.
    if (json) console.log(JSON.stringify({ error: 'InputValidationError', message: problem }, null, 2));
    else console.error(`backupctl: ${problem} (${helpHint(name)})`);
    return exitCodes.usage;
  }
  // A local run's first line comes now, not after seconds of loading its modules and starting servers;
  // like the progress line, only on a terminal (a script's or cron's stderr stays quiet).
  if (command.localRun && values.stage === undefined && !json && process.stderr.isTTY) {
    console.error('Starting the local servers…');
  }
  const { asOperator, exitCodeFor, placeOf } = await import('./context.ts');
  try {
    // Flags and the stage's config are checked before anything starts or any AWS API is called.
    if (values.since !== undefined)
      (await import('../../lib/report/audit.ts')).parseSince(String(values.since));
    const place = placeOf(values, deps);
    const run = await command.load();
    return await asOperator(name, place, () => run({ target, values, place, out, deps }));
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
