/**
 * A progress line for long work on a terminal: bytes so far, rate, elapsed, and percent and time left
 * when the total is known. Written to stderr and redrawn at most four times a second; nothing at all
 * with --json or when stderr is not a terminal (a pipe, a log file, CI), so scripts see no noise.
 */
import { formatBytes } from '../../lib/notify/messages.ts';
import {
  type ProgressEvent,
  type ProgressLog,
  type ProgressPhase,
  progressFromLogLine,
} from '../../lib/progress.ts';

export interface ProgressState {
  label: string;
  bytes: number;
  total?: number | undefined;
  /** The total is an estimate (a dump's size, a restored database's): "of about", and it may be passed. */
  estimated?: boolean;
  seconds: number;
}

const duration = (seconds: number) =>
  seconds < 90 ? `${Math.round(seconds)} s` : `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;

/**
 * Past an estimated total the percent stays at 100 and the line says "finishing" instead of a time
 * left: the work ends when it ends, and a percent above 100 would only say the estimate was off.
 */
export function formatProgress({ label, bytes, total, estimated, seconds }: ProgressState): string {
  const rate = seconds > 0 ? bytes / seconds : 0;
  const percent = total ? Math.min(100, Math.floor((bytes / total) * 100)) : 0;
  const parts = [
    `${label} ${formatBytes(bytes)}${total ? ` of ${estimated ? 'about ' : ''}${formatBytes(total)} (${percent}%)` : ''}`,
  ];
  parts.push(`${formatBytes(rate)}/s`, `${duration(seconds)} elapsed`);
  if (total && rate > 0 && bytes < total) parts.push(`about ${duration((total - bytes) / rate)} left`);
  if (total && bytes > total) parts.push('finishing');
  return parts.join(', ');
}

export interface Terminal {
  isTTY?: boolean;
  write(text: string): unknown;
}

export interface Progress {
  update(bytes: number, total?: number): void;
  done(): void;
}

export function progressLine(
  label: string,
  options: { json: boolean; stream?: Terminal; now?: () => number; estimated?: boolean },
): Progress | undefined {
  const stream = options.stream ?? process.stderr;
  if (options.json || !stream.isTTY) return undefined;
  const now = options.now ?? Date.now;
  const started = now();
  let drawn = 0;
  let last: ProgressState | undefined;
  const draw = (state: ProgressState) => stream.write(`\r\u001b[K${formatProgress(state)}`);
  return {
    update(bytes, total) {
      last = {
        label,
        bytes,
        total,
        estimated: options.estimated === true,
        seconds: (now() - started) / 1000,
      };
      if (now() - drawn < 250) return;
      drawn = now();
      draw(last);
    },
    done() {
      if (last) draw({ ...last, seconds: (now() - started) / 1000 });
      if (last) stream.write('\n');
    },
  };
}

const phaseLabels: Record<ProgressPhase, string> = {
  dump: 'dumping',
  checksum: 'checksumming',
  download: 'downloading',
  restore: 'restoring',
};

export interface StepProgress {
  /** For work run in this process: the steps' progress calls go straight to the terminal. */
  log: ProgressLog;
  /** For steps run by the local state machine runner (their JSON log lines, worker included). */
  onLogLine(line: string): void;
  /** Ends the current line (before a state's own line is printed). */
  finish(): void;
}

/** The last dump of the database, from its manifest: what the next dump's size is estimated from. */
export interface LastDump {
  bytes: number;
  databaseBytes: number;
}

/**
 * A dump's expected size: the last dump's, scaled by how the database grew since; without a last dump,
 * the database's size (a compressed dump ends well below it, "of about" says so).
 */
export function expectedDumpBytes(databaseBytes: number, last?: LastDump): number {
  if (!last || !(last.bytes > 0) || !(last.databaseBytes > 0)) return databaseBytes;
  return Math.round(last.bytes * (databaseBytes / last.databaseBytes));
}

/** One progress line per phase of the steps' work, on stderr; nothing with --json or without a TTY. */
export function stepProgress(options: {
  json: boolean;
  stream?: Terminal;
  now?: () => number;
  lastDump?: LastDump | undefined;
}): StepProgress {
  let phase: ProgressPhase | undefined;
  let line: Progress | undefined;
  const finish = () => {
    line?.done();
    line = undefined;
    phase = undefined;
  };
  const show = (event: ProgressEvent) => {
    if (event.phase !== phase) {
      finish();
      phase = event.phase;
      // A dump's and a restored database's sizes are estimates; a download's and a checksum's are not.
      const estimated = event.phase === 'dump' || event.phase === 'restore';
      line = progressLine(phaseLabels[event.phase], { ...options, estimated });
    }
    const total =
      event.totalBytes ??
      (event.databaseBytes === undefined
        ? undefined
        : expectedDumpBytes(event.databaseBytes, options.lastDump));
    line?.update(event.bytes, total);
  };
  return {
    log: { info: (_message, { progress }) => show(progress) },
    onLogLine(text) {
      const event = progressFromLogLine(text);
      if (event) show(event);
    },
    finish,
  };
}
