/**
 * README's table of backupctl's options and exit codes, written from the command table so the docs
 * say what the parser does. `npm run docs:cli` rewrites the section between its markers; a test fails
 * when README's section differs from what the table gives.
 */
import {
  type CommandName,
  commands,
  commonOptions,
  type OptionName,
  options,
  optionUsage,
} from './command-table.ts';
import { exitCodeLines } from './exit-codes.ts';

export const optionsStart =
  '<!-- backupctl-options:start (generated from tools/cli/command-table.ts by `npm run docs:cli`; edits here are overwritten) -->';
export const optionsEnd = '<!-- backupctl-options:end -->';

/** The commands that take an option, in the table's order. */
function takenBy(option: OptionName): string {
  if (commonOptions.includes(option)) return 'every command';
  return (Object.keys(commands) as CommandName[])
    .filter((name) => (commands[name].options as readonly OptionName[]).includes(option))
    .join(', ');
}

export function optionsSection(): string {
  const names = Object.keys(options) as OptionName[];
  // Each command's own options first, in the table's order, then those every command takes.
  const ordered = [...names.filter((n) => !commonOptions.includes(n)), ...commonOptions];
  return [
    optionsStart,
    '| Option | Taken by | What it does |',
    '|---|---|---|',
    ...ordered.map(
      (option) => `| \`${optionUsage(option)}\` | ${takenBy(option)} | ${options[option].description} |`,
    ),
    '',
    '| Exit code | Meaning |',
    '|---|---|',
    ...exitCodeLines.map((line) => {
      const [code, ...meaning] = line.split(' ');
      return `| \`${code}\` | ${meaning.join(' ')} |`;
    }),
    optionsEnd,
  ].join('\n');
}

/** README with its options section replaced by the table's; throws when the markers are missing. */
export function withOptionsSection(readme: string): string {
  const start = readme.indexOf(optionsStart);
  const end = readme.indexOf(optionsEnd);
  if (start < 0 || end < start)
    throw new Error(`README.md has no section between ${optionsStart} and ${optionsEnd}`);
  return `${readme.slice(0, start)}${optionsSection()}${readme.slice(end + optionsEnd.length)}`;
}
