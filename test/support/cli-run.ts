/**
 * backupctl as its tests run it: the real `main` in this process, with what it prints to stdout and
 * stderr captured line by line (and kept off the test output).
 */
import { jest } from '@jest/globals';
import type { CliDependencies } from '../../tools/cli/context.ts';
import { main } from '../../tools/cli/main.ts';

export interface CliRun {
  code: number;
  lines: string[];
  stdout: string;
  stderr: string;
}

export async function runCli(argv: string[], deps?: CliDependencies): Promise<CliRun> {
  const out: string[] = [];
  const err: string[] = [];
  const log = jest.spyOn(console, 'log').mockImplementation((line: unknown) => void out.push(String(line)));
  const error = jest
    .spyOn(console, 'error')
    .mockImplementation((line: unknown) => void err.push(String(line)));
  try {
    // Captured text is compared as text: no colour, whatever terminal the tests run in.
    const code = await main(argv, { colour: false, ...deps });
    return { code, lines: out, stdout: out.join('\n'), stderr: err.join('\n') };
  } finally {
    log.mockRestore();
    error.mockRestore();
  }
}
