/**
 * README.md and BACKUP_RUNBOOK.md say of backupctl's options what the parser does: README's options
 * table is the one the command table (tools/cli/command-table.ts) gives, and every `backupctl` command
 * line either document shows names a command and only options that command takes. A renamed or
 * dropped option fails here, not in an operator's terminal.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { type CommandName, commandOf, optionsOf } from '../../../tools/cli/command-table.ts';
import { optionsEnd, optionsSection, optionsStart } from '../../../tools/cli/readme-options.ts';
import { extractRunbookCommands } from '../../../tools/runbook/commands.ts';

const root = join(import.meta.dirname, '..', '..', '..');
const read = (name: string) => readFileSync(join(root, name), 'utf8');

/** Each `backupctl ...` command line of a document: its command and the options it names. */
function backupctlLines(markdown: string): { text: string; command: string; options: string[] }[] {
  return extractRunbookCommands(markdown)
    .filter((c) => c.kind === 'sh' && /(^|\s)(npx )?backupctl /.test(c.text))
    .flatMap((c) =>
      c.text
        // `a && b`, `a; b` and `a | b` lines hold several commands.
        .split(/&&|;|\|(?!\S*\])/)
        .filter((part) => /(^|\s)backupctl /.test(part))
        .map((part) => {
          const words = part
            .slice(part.search(/backupctl /) + 'backupctl '.length)
            .trim()
            .split(/\s+/);
          return {
            text: c.text,
            command: words.find((word) => !word.startsWith('-') && !word.startsWith('[')) ?? '',
            options: [...part.matchAll(/(?<![\w-])--([a-z][a-z-]*)/g)].map((m) => m[1] ?? ''),
          };
        }),
    );
}

describe('README.md options table', () => {
  it('is the one the command table gives (npm run docs:cli writes it)', () => {
    const readme = read('README.md');
    const start = readme.indexOf(optionsStart);
    const end = readme.indexOf(optionsEnd);
    expect(start).toBeGreaterThan(0);
    expect(readme.slice(start, end + optionsEnd.length)).toBe(optionsSection());
  });
});

describe.each(['README.md', 'BACKUP_RUNBOOK.md'])('%s backupctl lines', (file) => {
  const lines = backupctlLines(read(file));

  it('are there to check', () => {
    expect(lines.length).toBeGreaterThan(10);
  });

  it('name commands of the table, with options those commands take', () => {
    const wrong = lines.flatMap(({ text, command, options }) => {
      // `backupctl help <command>` and `<command> --help` are the help pages, not a command.
      if (command === 'help' || command.startsWith('<')) return [];
      if (!commandOf(command)) return [`${text}: no command "${command}"`];
      const taken = optionsOf(command as CommandName) as string[];
      return options.filter((option) => !taken.includes(option)).map((option) => `${text}: --${option}`);
    });
    expect(wrong).toEqual([]);
  });
});
