/**
 * backupctl's help: the overview, one page per command with its options and examples, and a suggestion
 * for a mistyped command or option, all read from the command table (command-table.ts). String work
 * only: `--help`, `help <command>` and `--version` load nothing else (no AWS SDK, no PostgreSQL
 * client), so they answer at once.
 */
import {
  type CommandName,
  type CommandSpec,
  commandOf,
  commands,
  commonOptions,
  options,
  optionUsage,
  synopsisOf,
} from './command-table.ts';
import { exitCodeLines } from './exit-codes.ts';

/** What every page ends with: the options every command takes, and the exit codes. */
function commonText(): string {
  const common = commonOptions.map((option) => [optionUsage(option), options[option].description] as const);
  const width = Math.max(...common.map(([usage]) => usage.length)) + 2;
  return [
    'Every command takes:',
    ...common.map(([usage, text]) => `  ${usage.padEnd(width)}${text}`),
    'Exit codes:',
    ...exitCodeLines.map((line) => `  ${line.replace(/^(\d+) /, (_, code: string) => code.padEnd(5))}`),
  ].join('\n');
}

/** A command and its argument, as the overview lists it (the options are on its page). */
function commandWithArgument(name: CommandName): string {
  const argument = (commands[name] as CommandSpec).argument;
  if (!argument) return name;
  return `${name} ${argument.required ? `<${argument.name}>` : `[${argument.name}]`}`;
}

export function usageText(): string {
  const names = Object.keys(commands) as CommandName[];
  const width = Math.max(...names.map((name) => commandWithArgument(name).length)) + 2;
  const lines = names.flatMap((name) =>
    commands[name].summary.map(
      (text, i) => `  ${(i === 0 ? commandWithArgument(name) : '').padEnd(width)}${text}`,
    ),
  );
  return `Usage: backupctl <command> [options]    (backupctl help <command> for its page and options)

Commands:
${lines.join('\n')}

${commonText()}`;
}

/** A command's page: synopsis, what it does, each of its own options, examples, and where it runs. */
export function commandHelpText(name: string): string | undefined {
  if (!commandOf(name)) return undefined;
  const command = name as CommandName;
  const spec: CommandSpec = commands[command];
  const own = spec.options.map((option) => [optionUsage(option), options[option].description] as const);
  const width = Math.max(...own.map(([usage]) => usage.length)) + 2;
  return [
    `Usage: backupctl ${synopsisOf(command)} [--local | ${optionUsage('stage')}] [--json]`,
    '',
    ...spec.summary.map((line) => line.replace(/;$/, '')),
    ...(spec.details ? ['', ...spec.details] : []),
    ...(own.length ? ['', 'Options:', ...own.map(([usage, text]) => `  ${usage.padEnd(width)}${text}`)] : []),
    '',
    'Examples:',
    ...spec.examples.map((example) => `  ${example}`),
    '',
    commonText(),
  ].join('\n');
}

/** The candidate closest to `name`: a prefix of two characters or more, or within two edits. */
function closest(name: string, candidates: Iterable<string>): string | undefined {
  let best: { candidate: string; distance: number } | undefined;
  for (const candidate of candidates) {
    const distance = candidate.startsWith(name) && name.length >= 2 ? 0 : editDistance(name, candidate);
    if (distance <= 2 && (!best || distance < best.distance)) best = { candidate, distance };
  }
  return best?.candidate;
}

export function suggestCommand(name: string): string | undefined {
  return closest(name, Object.keys(commands));
}

/** The option (without dashes) a mistyped `--name` meant, from `options`. */
export function suggestOption(name: string, options: Iterable<string>): string | undefined {
  return closest(name, options);
}

/** Edits between a and b, a swap of two neighbours counting as one (`josn` is one edit from `json`). */
function editDistance(a: string, b: string): number {
  const rows: number[][] = [Array.from({ length: b.length + 1 }, (_, j) => j)];
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      const above = rows[i - 1] ?? [];
      let best = Math.min((above[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, (above[j - 1] ?? 0) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        best = Math.min(best, (rows[i - 2]?.[j - 2] ?? 0) + 1);
      }
      row[j] = best;
    }
    rows.push(row);
  }
  return rows[a.length]?.[b.length] ?? 0;
}
