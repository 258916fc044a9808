/**
 * A state's line reads the step's answer where the definition puts it, through that step's contract:
 * the Lambda's result at `$.dump`, the worker's at `$.state.dump`, a build's outcome at `$.build`; an
 * answer of another shape says so instead of printing a wrong figure.
 */
import { describe, expect, it } from '@jest/globals';
import type { StateRecord } from '../../../../lib/report/executions.ts';
import { keyFigure } from '../../../../tools/local/state-lines.ts';

const dump = {
  backupId: '20261207T020000Z-a1b2c3',
  dumpKey: 'incoming/20261207T020000Z-a1b2c3.dump',
  manifestKey: 'incoming/20261207T020000Z-a1b2c3.manifest.json',
  bytes: 7 * 1024 * 1024,
  sha256: 'e'.repeat(64),
  tables: 11,
  rows: 462_603,
  dumpSeconds: 4.6,
  compression: 'zstd:1',
  serverVersion: '18.6',
  warnings: 0,
  abortedStaleUploads: 0,
  rewriteRetries: 0,
  proof: 'checksums',
};

const record = (name: string, output: unknown): StateRecord => ({
  name,
  status: 'succeeded',
  startedAt: '2026-12-07T02:00:00.000Z',
  durationMs: 1000,
  output,
});

describe('keyFigure()', () => {
  it("reads the step's answer at its state's ResultPath, on Lambda and on the worker", () => {
    const line = '7.0 MiB, 11 tables, 462603 rows, zstd:1, counts and content';
    expect(keyFigure('backup', record('Dump', { plan: {}, dump }))).toBe(line);
    expect(keyFigure('backup', record('DumpResult', { state: { dump }, build: {} }))).toBe(line);
    expect(keyFigure('backup', record('DumpBuild', { build: { id: 'b-1', status: 'SUCCEEDED' } }))).toBe(
      'build b-1: SUCCEEDED',
    );
    expect(keyFigure('backup', record('DumpBuild', { build: { Error: 'States.TaskFailed' } }))).toBe(
      'no build: States.TaskFailed',
    );
  });

  it('names the field of an answer that is not of its contract', () => {
    expect(keyFigure('backup', record('Dump', { dump: { ...dump, tables: 'eleven' } }))).toBe(
      '(no figure: tables is not as the dump step answers it)',
    );
  });
});
