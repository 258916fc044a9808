/**
 * Waiting for something observable instead of for time. Fault tests kill, stop or cut something
 * "mid-X": they wait until X is seen under way (a process, a held request, a lock wait, a file) and
 * never sleep for a guessed while, which is green on a quiet machine and red on a busy one.
 *
 * `waitFor` asks its question again and again until it answers. The pause between two asks only
 * bounds how often it looks (the wait ends when the answer comes, not when a timer says so); the
 * limit is a failure with the question in its message, never a success. This file holds the suite's
 * one poll timer: test/unit/test-timers.test.ts keeps fixed sleeps out of the other fault tests.
 */
import { readdir, readFile } from 'node:fs/promises';
import { constants } from 'node:os';

export interface WaitOptions {
  /** How long before giving up with an error; generous, as it only ends a test that fails anyway. */
  limitMs?: number;
  /** Stops the wait early, with an error (the run it watches has ended). */
  signal?: AbortSignal;
}

const askEveryMs = 20;

/** Resolves with `check`'s first answer that is neither undefined nor false. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined | false> | T | undefined | false,
  options: WaitOptions = {},
): Promise<T> {
  const limitMs = options.limitMs ?? 90_000;
  const started = Date.now();
  for (;;) {
    const answer = await check();
    if (answer !== undefined && answer !== false) return answer;
    if (options.signal?.aborted) throw new Error(`stopped waiting for ${what}: ${options.signal.reason}`);
    if (Date.now() - started > limitMs) throw new Error(`${what} was not seen within ${limitMs / 1000} s`);
    // fixed-timer-allowed: the pause between two asks of a poll; the wait ends on the answer.
    await new Promise((next) => setTimeout(next, askEveryMs));
  }
}

/** The parent's pid of `pid` (/proc/<pid>/stat, field 4), or undefined once it is gone. */
export async function parentOf(pid: number): Promise<number | undefined> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  if (!stat) return undefined;
  // The command name (field 2) is parenthesised and may hold spaces: the fields after it are not.
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

/** Processes whose command line contains `text` (all of them, or those whose parent is `parent`). */
export async function processesRunning(text: string, parent?: number): Promise<number[]> {
  const found: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    const command = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (!command.includes(text)) continue;
    if (parent === undefined || (await parentOf(Number(entry))) === parent) found.push(Number(entry));
  }
  return found;
}

/** Whether a process still exists (a zombie does not count: it has finished). */
export async function processAlive(pid: number): Promise<boolean> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  return status !== '' && !/^State:\s+Z/m.test(status);
}

/** Whether `signal` was sent to `pid` and waits there (the process is stopped, so it cannot act on it). */
export async function signalPending(pid: number, signal: NodeJS.Signals): Promise<boolean> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const bit = 1n << BigInt(constants.signals[signal] - 1);
  for (const field of ['SigPnd', 'ShdPnd']) {
    const mask = new RegExp(`^${field}:\\s+([0-9a-f]+)`, 'm').exec(status)?.[1];
    if (mask && (BigInt(`0x${mask}`) & bit) !== 0n) return true;
  }
  return false;
}

/** Sends `signal` to `pid`; false when the process is already gone. */
export function signalIfAlive(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    return false;
  }
}
