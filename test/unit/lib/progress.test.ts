import { describe, expect, it } from '@jest/globals';
import { createLogger } from '../../../lib/logging.ts';
import { progressFromLogLine, reportProgress } from '../../../lib/progress.ts';
import { stepProgress } from '../../../tools/cli/progress.ts';

const MiB = 1024 ** 2;

describe('reportProgress', () => {
  it('logs at most one line every two seconds, and the final figure once at the end', () => {
    let clock = 0;
    const lines: string[] = [];
    const progress = reportProgress(
      createLogger((line) => lines.push(line)),
      'download',
      10 * MiB,
      () => clock,
    );
    for (const [at, bytes] of [
      [0, MiB],
      [1500, 2 * MiB],
      [2100, 5 * MiB],
      [3000, 10 * MiB],
    ] as const) {
      clock = at;
      progress.update(bytes);
    }
    progress.done();
    progress.done();
    const events = lines.map((line) => progressFromLogLine(line));
    expect(events).toEqual([
      { phase: 'download', bytes: MiB, totalBytes: 10 * MiB },
      { phase: 'download', bytes: 5 * MiB, totalBytes: 10 * MiB },
      { phase: 'download', bytes: 10 * MiB, totalBytes: 10 * MiB },
    ]);
  });

  it('reads only progress lines, not other log lines that mention progress', () => {
    const lines: string[] = [];
    const logger = createLogger((line) => lines.push(line));
    logger.info('step started', { note: 'progress' });
    logger.info('progress', { progress: { phase: 'unknown', bytes: 1 } });
    expect(lines.map((line) => progressFromLogLine(line))).toEqual([undefined, undefined]);
    expect(progressFromLogLine('not json "progress"')).toBeUndefined();
  });
});

describe('stepProgress', () => {
  const terminal = () => {
    const written: string[] = [];
    return { stream: { isTTY: true, write: (text: string) => written.push(text) }, written };
  };

  it("draws the steps' progress log lines on a terminal, one line per phase, ended before a state line", () => {
    const { stream, written } = terminal();
    let clock = 0;
    const progress = stepProgress({ json: false, stream, now: () => clock });
    const logged: string[] = [];
    const logger = createLogger((line) => logged.push(line));
    reportProgress(logger, 'dump').update(3 * MiB);
    clock = 1000;
    const restore = reportProgress(logger, 'restore', 8 * MiB);
    restore.update(2 * MiB);
    for (const line of logged) progress.onLogLine(line);
    progress.onLogLine('{"level":"INFO","message":"step finished"}');
    progress.finish();

    expect(written.filter((text) => text !== '\n').map((text) => text.replace('\r\u001b[K', ''))).toEqual([
      'dumping 3.0 MiB, 0 B/s, 0 s elapsed',
      'dumping 3.0 MiB, 0 B/s, 0 s elapsed',
      'restoring 2.0 MiB of about 8.0 MiB (25%), 0 B/s, 0 s elapsed',
      'restoring 2.0 MiB of about 8.0 MiB (25%), 0 B/s, 0 s elapsed',
    ]);
    expect(written.filter((text) => text === '\n')).toHaveLength(2);
  });

  it('draws nothing with --json', () => {
    const { stream, written } = terminal();
    const progress = stepProgress({ json: true, stream });
    progress.log.info('progress', { progress: { phase: 'checksum', bytes: MiB, totalBytes: 2 * MiB } });
    progress.finish();
    expect(written).toEqual([]);
  });
});
