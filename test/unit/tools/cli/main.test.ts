/**
 * backupctl's arguments are checked against the one command table (tools/cli/command-table.ts) before
 * anything loads or starts: each mistake is one line that names it and where the command's options are
 * listed, exit 2, and the help pages list exactly what the parser takes.
 */
import { describe, expect, it } from '@jest/globals';
import {
  type CommandName,
  commands,
  commonOptions,
  options,
  optionsOf,
  optionUsage,
  parseOptions,
  synopsisOf,
} from '../../../../tools/cli/command-table.ts';
import { commandHelpText, usageText } from '../../../../tools/cli/help.ts';
import { exitCodes, usageProblem } from '../../../../tools/cli/main.ts';
import { runCli } from '../../../support/cli-run.ts';

const names = Object.keys(commands) as CommandName[];

describe('backupctl usage errors', () => {
  it.each([
    [
      ['list', 'extra'],
      'backupctl: list takes no argument, but was given: extra (backupctl help list shows its options)',
    ],
    [['verify'], 'backupctl: verify needs <id|latest> (backupctl help verify shows its options)'],
    [
      ['verify', 'latest', 'again'],
      'backupctl: verify takes one argument (id|latest), but was given: latest again (backupctl help verify shows its options)',
    ],
    [
      ['restore', 'latest'],
      'backupctl: restore needs --target-url URL (backupctl help restore shows its options)',
    ],
    [
      ['backup', '--database', 'shop', '--all-databases'],
      'backupctl: --database and --all-databases exclude each other (backupctl help backup shows its options)',
    ],
    [['audit', '--write'], 'backupctl: audit does not take --write (backupctl help audit shows its options)'],
    [
      ['list', '--stage'],
      'backupctl: --stage needs a value: --stage STAGE (backupctl help list shows its options)',
    ],
    [['status', '--json=yes'], 'backupctl: --json takes no value (backupctl help status shows its options)'],
    [
      ['list', '--datbase', 'shop'],
      'backupctl: unknown option --datbase: did you mean --database? (backupctl help list shows its options)',
    ],
  ])('%j: one line naming the mistake, exit 2, nothing run', async (argv, line) => {
    const result = await runCli(argv);
    expect(result).toMatchObject({ code: exitCodes.usage, stdout: '', stderr: line });
  });

  it('says it as an InputValidationError with --json', async () => {
    const result = await runCli(['restore', 'latest', '--json']);
    expect(result.code).toBe(exitCodes.usage);
    expect(JSON.parse(result.stdout)).toEqual({
      error: 'InputValidationError',
      message: 'restore needs --target-url URL',
    });
  });

  it("takes every option of a command's page, and only those", () => {
    for (const name of names) {
      const spec = commands[name];
      const args = 'argument' in spec && spec.argument.required ? ['latest'] : [];
      const requiredOptions: readonly string[] = 'required' in spec ? spec.required : [];
      const required = Object.fromEntries(requiredOptions.map((o) => [o, 'x']));
      for (const option of optionsOf(name)) {
        const value = options[option].type === 'string' ? 'x' : true;
        // An option of an exclusive pair is taken alone.
        expect(usageProblem(name, { ...required, [option]: value }, args)).toBeUndefined();
      }
      for (const option of Object.keys(options).filter((o) => !(optionsOf(name) as string[]).includes(o))) {
        expect(usageProblem(name, { ...required, [option]: 'x' }, args)).toBe(
          `${name} does not take --${option}`,
        );
      }
    }
  });
});

describe('backupctl help, from the command table', () => {
  it("lists on each command's page every option it takes, --database included where it is taken", () => {
    for (const name of names) {
      const page = commandHelpText(name) ?? '';
      for (const option of optionsOf(name)) expect(page).toContain(optionUsage(option));
      expect(page.startsWith(`Usage: backupctl ${synopsisOf(name)} `)).toBe(true);
    }
    expect(commandHelpText('list')).toContain('--database NAME');
    expect(synopsisOf('list')).toBe('list [--database NAME]');
    expect(synopsisOf('restore')).toBe(
      'restore <id|latest> --target-url URL [--jobs N] [--with-roles] [--database NAME] [--target-not-production] [--allow-unverified] [--counts-only]',
    );
    expect(synopsisOf('backup')).toBe(
      'backup [--reason TEXT] [--compression zstd:1] [--database NAME | --all-databases]',
    );
  });

  it('lists every command in the overview, and the options every command takes', () => {
    const overview = usageText();
    for (const name of names) expect(overview).toMatch(new RegExp(`^  ${name}\\b`, 'm'));
    for (const option of commonOptions) expect(overview).toContain(optionUsage(option));
  });

  it('hands parseArgs exactly the options the table declares', () => {
    expect(Object.keys(parseOptions).sort()).toEqual(Object.keys(options).sort());
    expect(parseOptions.verbose).toEqual({ type: 'boolean', short: 'v' });
    expect(parseOptions.stage).toEqual({ type: 'string' });
  });
});
