/**
 * No fixed sleeps in the integration tests and their support code. A test that kills, stops or cuts
 * something "mid-X" and sleeps for a guessed while is green on a quiet machine and red on a busy one;
 * it waits for X to be observably under way instead (test/support/wait-for.ts, the fault proxy's
 * `hold`, a lock, a process, a file). A timer that is not a guess (the one poll pause of `waitFor`, a
 * process kept alive until a signal) stays, named: a `fixed-timer-allowed: <reason>` comment on its
 * line or the line above.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from '@jest/globals';

const root = join(import.meta.dirname, '..', '..');
const scanned = ['test/integration', 'test/support'];

/** setTimeout/setInterval calls, sleep helpers and the promise timers they are made of. */
const fixedTimer =
  /\b(?:setTimeout|setInterval)\s*\(|\bsleep\s*\(|\bdelay\s*\(|['"]node:timers\/promises['"]|\bAtomics\.wait\s*\(/;
const allowed = /fixed-timer-allowed:\s*(\S.{9,})/;

/** `file:line: text` for every fixed timer in `text` without a named exception. */
function fixedTimersIn(file: string, text: string): string[] {
  const lines = text.split('\n');
  return lines.flatMap((line, index) => {
    if (!fixedTimer.test(line)) return [];
    if (allowed.test(line) || allowed.test(lines[index - 1] ?? '')) return [];
    return [`${file}:${index + 1}: ${line.trim()}`];
  });
}

function filesUnder(dir: string): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts'))
    .map((entry) => relative(root, join(entry.parentPath, entry.name)));
}

describe('timers in the integration tests', () => {
  it('has no fixed sleep without a named exception', () => {
    const found = scanned
      .flatMap(filesUnder)
      .flatMap((file) => fixedTimersIn(file, readFileSync(join(root, file), 'utf8')));
    expect(found).toEqual([]);
  });

  it('catches the forms a fixed sleep takes, and takes an exception only with its reason', () => {
    const caught = [
      'await new Promise((next) => setTimeout(next, 500));',
      "import { setTimeout as sleep } from 'node:timers/promises';",
      'await sleep(300);',
      'const timer = setInterval(poll, 50);',
      'await delay(20);',
    ];
    for (const line of caught) expect(fixedTimersIn('f.ts', line)).toHaveLength(1);
    expect(fixedTimersIn('f.ts', '// fixed-timer-allowed:\nawait sleep(1);')).toHaveLength(1);
    expect(fixedTimersIn('f.ts', 'await sleep(1); // fixed-timer-allowed: x')).toHaveLength(1);
    expect(
      fixedTimersIn(
        'f.ts',
        '// fixed-timer-allowed: keeps the process alive until a signal\nsetInterval(f, 1);',
      ),
    ).toEqual([]);
    expect(fixedTimersIn('f.ts', 'sleep: async (ms) => void waits.push(ms),')).toEqual([]);
  });

  it('scans the files it means to (a moved folder would make the check vacuous)', () => {
    const files = scanned.flatMap(filesUnder);
    expect(files).toEqual(
      expect.arrayContaining(['test/integration/worker.test.ts', 'test/support/wait-for.ts']),
    );
    const waitFor = readFileSync(join(root, 'test/support/wait-for.ts'), 'utf8');
    expect(fixedTimer.test(waitFor)).toBe(true);
  });
});
