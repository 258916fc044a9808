/**
 * Which process a local record belongs to, told apart from a later process that got the same pid:
 * the pid plus the kernel's start time of it. The embedded servers' owner files and the running
 * executions' records use it to tell a live run from one that was killed without a trace.
 */
import { readFile } from 'node:fs/promises';

export interface ProcessIdentity {
  pid: number;
  /** Clock ticks since boot (/proc/<pid>/stat field 22); undefined where there is no /proc. */
  startTime: string | undefined;
}

/** A process's start time in clock ticks since boot (/proc/<pid>/stat field 22): pid reuse changes it. */
export async function processStartTime(pid: number): Promise<string | undefined> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
  return stat?.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
}

export async function thisProcess(): Promise<ProcessIdentity> {
  return { pid: process.pid, startTime: await processStartTime(process.pid) };
}

/** Whether the process is still the one recorded: same pid and, where /proc tells, same start time. */
export async function isProcessAlive(identity: ProcessIdentity): Promise<boolean> {
  if (identity.startTime !== undefined) return (await processStartTime(identity.pid)) === identity.startTime;
  try {
    process.kill(identity.pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, under another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
