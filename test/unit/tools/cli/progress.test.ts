import { describe, expect, it } from '@jest/globals';
import { expectedDumpBytes, formatProgress, progressLine } from '../../../../tools/cli/progress.ts';

const MiB = 1024 ** 2;

describe('formatProgress', () => {
  it('shows bytes, percent, rate, elapsed and time left when the total is known', () => {
    expect(formatProgress({ label: 'downloading', bytes: 300 * MiB, total: 1200 * MiB, seconds: 10 })).toBe(
      'downloading 300.0 MiB of 1.2 GiB (25%), 30.0 MiB/s, 10 s elapsed, about 30 s left',
    );
  });

  it('never passes 100 % past an estimate: it says "finishing" instead of a time left', () => {
    expect(
      formatProgress({ label: 'restoring', bytes: 30 * MiB, total: 20 * MiB, estimated: true, seconds: 10 }),
    ).toBe('restoring 30.0 MiB of about 20.0 MiB (100%), 3.0 MiB/s, 10 s elapsed, finishing');
  });

  it("estimates a dump from the last dump's size scaled by the database's growth, else the database's size", () => {
    expect(expectedDumpBytes(200 * MiB, { bytes: 10 * MiB, databaseBytes: 100 * MiB })).toBe(20 * MiB);
    expect(expectedDumpBytes(200 * MiB)).toBe(200 * MiB);
    expect(expectedDumpBytes(200 * MiB, { bytes: 10 * MiB, databaseBytes: 0 })).toBe(200 * MiB);
  });

  it('leaves out what it cannot know', () => {
    expect(formatProgress({ label: 'dumping', bytes: 5 * MiB, seconds: 200 })).toBe(
      'dumping 5.0 MiB, 25.6 KiB/s, 3 min 20 s elapsed',
    );
  });
});

describe('progressLine', () => {
  const terminal = (isTTY: boolean) => {
    const written: string[] = [];
    return { stream: { isTTY, write: (text: string) => written.push(text) }, written };
  };

  it('is silent with --json and when stderr is no terminal', () => {
    expect(progressLine('downloading', { json: true, stream: terminal(true).stream })).toBeUndefined();
    expect(progressLine('downloading', { json: false, stream: terminal(false).stream })).toBeUndefined();
  });

  it('redraws one line at most four times a second and ends it', () => {
    let clock = 0;
    const { stream, written } = terminal(true);
    const progress = progressLine('downloading', { json: false, stream, now: () => clock });
    for (const [at, bytes] of [
      [300, MiB],
      [400, 2 * MiB],
      [600, 3 * MiB],
    ] as const) {
      clock = at;
      progress?.update(bytes, 4 * MiB);
    }
    clock = 800;
    progress?.done();
    // Drawn at 300 ms and 600 ms (400 ms is too soon after 300), then the final state and a newline.
    expect(written).toHaveLength(4);
    // Each redraw returns to the line's start and clears it first.
    expect(written[0]?.startsWith('\r\u001b[Kdownloading 1.0 MiB of 4.0 MiB (25%)')).toBe(true);
    expect(written[2]).toMatch(/downloading 3\.0 MiB of 4\.0 MiB \(75%\), .* 1 s elapsed/);
    expect(written[3]).toBe('\n');
  });
});
