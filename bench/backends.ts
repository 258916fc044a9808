/**
 * What a scenario costs the production server beyond pg_dump's own work: the CPU of each PostgreSQL
 * backend the scenario used, by who opened it, and the table blocks read on the server.
 *
 * CPU: every child of the postmaster is sampled from /proc/<pid>/stat while the scenario runs, and each
 * backend is classified once through pg_stat_activity: pg_dump's backend (the bench starts pg_dump with
 * `application_name = bench-pg_dump`), the product's own sessions (`verified-pg-backups`: the snapshot
 * holder, the counting/checksum session, whatever the dump step opens besides pg_dump), and parallel
 * workers by their leader. A backend's CPU after its last sample is missed (at most one interval,
 * 20 ms), and so is any backend that starts and ends between two samples.
 *
 * Reads: the sum of `pg_statio_user_tables` heap, index and TOAST blocks (read + hit), before and after,
 * once every backend of the scenario has exited (a backend flushes its statistics when it ends). The
 * figure covers every backend; what the dump step reads beyond pg_dump's own is its figure minus that of
 * pg_dump alone on the same database (scenario a), which reads the same blocks every time.
 */
import { readFileSync } from 'node:fs';
import { parseConnectionUrl } from '../lib/pg/connection.ts';
import { openSession, type Session } from '../lib/pg/session.ts';

/** PGAPPNAME the bench gives every pg_dump it starts, so its backend is told apart from the product's. */
export const benchPgDumpAppName = 'bench-pg_dump';
const productAppName = 'verified-pg-backups';
const ticksPerSecond = 100;

export type BackendClass = 'pgDump' | 'product' | 'other';

export interface BackendUsage {
  /** CPU seconds per class of backend during the scenario. */
  cpuSeconds: Record<BackendClass, number>;
  /** Backends of each class seen. */
  backends: Record<BackendClass, number>;
  /** Table blocks read or found in shared buffers (all backends), times the block size. */
  tableBytes: number;
}

function cpuOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11] ?? 0) + Number(fields[12] ?? 0)) / ticksPerSecond;
  } catch {
    return undefined;
  }
}

function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

const tableBlocksSql = `
  SELECT coalesce(sum(coalesce(heap_blks_read, 0) + coalesce(heap_blks_hit, 0) + coalesce(idx_blks_read, 0) +
                      coalesce(idx_blks_hit, 0) + coalesce(toast_blks_read, 0) + coalesce(toast_blks_hit, 0) +
                      coalesce(tidx_blks_read, 0) + coalesce(tidx_blks_hit, 0)), 0)::text AS blocks,
         current_setting('block_size')::int AS block_size
    FROM pg_statio_user_tables`;

/** One monitoring session on the benchmark database, reused for every scenario of a run. */
export class BackendMonitor {
  private readonly session: Session;
  private readonly ownPid: number;
  private readonly postmasterPid: number;

  private constructor(session: Session, ownPid: number, postmasterPid: number) {
    this.session = session;
    this.ownPid = ownPid;
    this.postmasterPid = postmasterPid;
  }

  static async open(databaseUrl: string, postmasterPid: number): Promise<BackendMonitor> {
    const session = await openSession(parseConnectionUrl(databaseUrl, 'bench monitor'));
    const { rows } = await session.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    return new BackendMonitor(session, Number(rows[0]?.pid), postmasterPid);
  }

  async close(): Promise<void> {
    await this.session.end().catch(() => undefined);
  }

  private async tableBytes(): Promise<number> {
    await this.session.query('SELECT pg_stat_clear_snapshot()');
    const { rows } = await this.session.query<{ blocks: string; block_size: number }>(tableBlocksSql);
    return Number(rows[0]?.blocks ?? 0) * Number(rows[0]?.block_size ?? 8192);
  }

  /** Waits (at most 5 s) until no client backend but the monitor's is left: their statistics are in. */
  private async quiesce(): Promise<void> {
    for (let waited = 0; waited < 5_000; waited += 50) {
      const { rows } = await this.session.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_stat_activity
          WHERE pid <> pg_backend_pid() AND backend_type IN ('client backend', 'parallel worker')`,
      );
      if (Number(rows[0]?.n ?? 0) === 0) return;
      await new Promise((next) => setTimeout(next, 50));
    }
  }

  /** Starts watching; `stop()` returns what the backends used in between. */
  async watch(intervalMs = 20): Promise<() => Promise<BackendUsage>> {
    await this.quiesce();
    const bytesBefore = await this.tableBytes();
    const first = new Map<number, number>();
    const last = new Map<number, number>();
    const classOf = new Map<number, BackendClass>();
    const leaderOf = new Map<number, number>();
    for (const pid of childrenOf(this.postmasterPid)) {
      const cpu = cpuOf(pid);
      if (cpu !== undefined) {
        first.set(pid, cpu);
        last.set(pid, cpu);
      }
    }
    let lookup: Promise<void> | undefined;
    const classify = async (pids: number[]) => {
      const { rows } = await this.session.query<{
        pid: number;
        application_name: string | null;
        backend_type: string | null;
        leader_pid: number | null;
      }>(
        'SELECT pid, application_name, backend_type, leader_pid FROM pg_stat_activity WHERE pid = ANY($1::int[])',
        [pids],
      );
      for (const row of rows) {
        const pid = Number(row.pid);
        if (row.backend_type === 'parallel worker' && row.leader_pid)
          leaderOf.set(pid, Number(row.leader_pid));
        else if (row.backend_type === 'client backend' && row.application_name === benchPgDumpAppName)
          classOf.set(pid, 'pgDump');
        else if (row.backend_type === 'client backend' && row.application_name === productAppName)
          classOf.set(pid, 'product');
        // A backend still authenticating has no name yet: asked again at the next sample.
        else if (row.backend_type !== 'client backend' || row.application_name) classOf.set(pid, 'other');
      }
    };
    const sample = () => {
      const unknown: number[] = [];
      for (const pid of childrenOf(this.postmasterPid)) {
        if (pid === this.ownPid) continue;
        const cpu = cpuOf(pid);
        if (cpu === undefined) continue;
        last.set(pid, cpu);
        if (!classOf.has(pid) && !leaderOf.has(pid) && !first.has(pid)) unknown.push(pid);
      }
      if (unknown.length > 0 && lookup === undefined) {
        lookup = classify(unknown)
          .catch(() => undefined)
          .finally(() => {
            lookup = undefined;
          });
      }
    };
    const timer = setInterval(sample, intervalMs);
    return async () => {
      clearInterval(timer);
      sample();
      await lookup;
      await this.quiesce();
      const bytesAfter = await this.tableBytes();
      const cpuSeconds: Record<BackendClass, number> = { pgDump: 0, product: 0, other: 0 };
      const backends: Record<BackendClass, number> = { pgDump: 0, product: 0, other: 0 };
      for (const [pid, cpu] of last) {
        const leader = leaderOf.get(pid);
        // Processes that were there before the scenario (checkpointer, WAL writer) count from then.
        const kind = first.has(pid) ? 'other' : (classOf.get(leader ?? pid) ?? 'other');
        cpuSeconds[kind] += cpu - (first.get(pid) ?? 0);
        if (!first.has(pid)) backends[kind] += 1;
      }
      return { cpuSeconds, backends, tableBytes: bytesAfter - bytesBefore };
    };
  }
}
