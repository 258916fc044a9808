/**
 * CPU and memory readings from /proc (Linux only, like the Lambda runtime). Clock ticks are 1/100 s on
 * every Linux the benchmark targets (USER_HZ is fixed at 100 for user space).
 */
import { readdirSync, readFileSync } from 'node:fs';

const ticksPerSecond = 100;

export interface ProcessCpu {
  /** user+sys of the process itself, seconds. */
  self: number;
  /** user+sys of its children that exited and were waited for, seconds. */
  children: number;
}

/** `/proc/<pid>/stat` fields 14-17 (utime, stime, cutime, cstime); the name field may contain spaces. */
export function readCpu(pid: number | 'self' = 'self'): ProcessCpu {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // After the name, field 3 (state) is index 0, so utime (field 14) is index 11.
  const at = (index: number) => Number(fields[index] ?? 0) / ticksPerSecond;
  return { self: at(11) + at(12), children: at(13) + at(14) };
}

/**
 * CPU used so far by a PostgreSQL server: the postmaster, the backends it already reaped (cutime), and
 * every live or not-yet-reaped child (backends, parallel workers, checkpointer, WAL writer). Reading
 * only the postmaster's cutime would miss a backend that exited but was not reaped yet, and credit its
 * CPU to the next scenario.
 */
export function readServerCpu(postmasterPid: number): number {
  const postmaster = readCpu(postmasterPid);
  let total = postmaster.self + postmaster.children;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) !== postmasterPid) continue;
      const at = (index: number) => Number(fields[index] ?? 0) / ticksPerSecond;
      total += at(11) + at(12) + at(13) + at(14);
    } catch {
      // The process ended between readdir and read: its time is in the postmaster's cutime now.
    }
  }
  return total;
}

/** Peak resident set size (VmHWM) in bytes, or undefined once the process is gone. */
export function readPeakRss(pid: number | 'self' = 'self'): number | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const match = /^VmHWM:\s+(\d+) kB$/m.exec(status);
    return match ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Samples a child's VmHWM until it exits. VmHWM only grows, so the last reading before exit is the
 * peak up to the last sampling interval (50 ms; pg_dump's memory settles long before it exits).
 */
export function watchPeakRss(pid: number | undefined, intervalMs = 50): () => number | undefined {
  if (pid === undefined) return () => undefined;
  let peak: number | undefined;
  const sample = () => {
    const value = readPeakRss(pid);
    if (value !== undefined) peak = Math.max(peak ?? 0, value);
  };
  sample();
  const timer = setInterval(sample, intervalMs);
  timer.unref();
  return () => {
    clearInterval(timer);
    return peak;
  };
}
