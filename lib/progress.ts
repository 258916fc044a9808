/**
 * Progress of long work (dump, checksum, download, restore) as structured log lines: at most one every
 * two seconds plus one at the end, `{"message":"progress","progress":{"phase","bytes","totalBytes"}}`.
 * On AWS they show in the step's log group while it runs; locally `backupctl` turns them into a
 * progress line on the terminal (tools/cli/progress.ts). The work never waits for them.
 */

export type ProgressPhase = 'dump' | 'checksum' | 'download' | 'restore';

export interface ProgressEvent {
  phase: ProgressPhase;
  bytes: number;
  /** The size the work heads for, when known (the manifest's dump size, the database's size). */
  totalBytes?: number;
  /**
   * For a dump, whose compressed size is unknown until it ends: the database's size. A reader that
   * knows the last dump estimates this one from it (its size, scaled by the database's growth), and
   * without one uses the database's size itself (tools/cli/progress.ts).
   */
  databaseBytes?: number;
}

export interface ProgressReporter {
  update(bytes: number): void;
  done(): void;
}

export interface ProgressLog {
  info(message: string, extra: { progress: ProgressEvent }): void;
}

export const progressIntervalMs = 2000;

/** `total`: the size the work heads for, or (a dump) the database's size it reads. */
export function reportProgress(
  log: ProgressLog | undefined,
  phase: ProgressPhase,
  total?: number | { databaseBytes: number },
  now: () => number = Date.now,
): ProgressReporter {
  const totalBytes = typeof total === 'number' ? total : undefined;
  const databaseBytes = typeof total === 'object' ? total.databaseBytes : undefined;
  let last = Number.NEGATIVE_INFINITY;
  let bytes = 0;
  let logged = -1;
  const emit = () => {
    logged = bytes;
    last = now();
    log?.info('progress', {
      progress: {
        phase,
        bytes,
        ...(totalBytes !== undefined ? { totalBytes } : {}),
        ...(databaseBytes !== undefined ? { databaseBytes } : {}),
      },
    });
  };
  return {
    update(value) {
      bytes = value;
      if (now() - last >= progressIntervalMs) emit();
    },
    done() {
      if (logged !== bytes) emit();
    },
  };
}

/** A progress event from a step's JSON log line, or undefined for any other line. */
export function progressFromLogLine(line: string): ProgressEvent | undefined {
  if (!line.includes('"progress"')) return undefined;
  try {
    const parsed = JSON.parse(line) as { message?: unknown; progress?: Partial<ProgressEvent> };
    const event = parsed.progress;
    if (parsed.message !== 'progress' || !event || typeof event.bytes !== 'number') return undefined;
    if (!['dump', 'checksum', 'download', 'restore'].includes(String(event.phase))) return undefined;
    return {
      phase: event.phase as ProgressPhase,
      bytes: event.bytes,
      ...(typeof event.totalBytes === 'number' ? { totalBytes: event.totalBytes } : {}),
      ...(typeof event.databaseBytes === 'number' ? { databaseBytes: event.databaseBytes } : {}),
    };
  } catch {
    return undefined;
  }
}
