/** `backupctl drill --all-databases`: after each database's line, Render's drill when it ran. */
import { describe, expect, it } from '@jest/globals';
import { renderDrillLine } from '../../../../../tools/cli/commands/drill.ts';

const concluded = (output: Record<string, unknown>) => ({
  states: [{ name: 'Conclude', status: 'succeeded', output }],
});

describe('renderDrillLine()', () => {
  it("says Render's drill passed, with its record", () => {
    expect(
      renderDrillLine(
        concluded({ render: { passed: true, recordKey: 'provider/render/drills/render-1.json' } }),
      ),
    ).toEqual(["Render's export: drill passed (record provider/render/drills/render-1.json)"]);
  });

  it('names the error and its message when it failed', () => {
    const cause = JSON.stringify({
      errorType: 'ProviderDrillFailedError',
      errorMessage: 'the export is truncated (record: provider/render/drills/render-2.json)',
    });
    const [line] = renderDrillLine(
      concluded({ renderError: { Error: 'ProviderDrillFailedError', Cause: cause } }),
    );
    expect(line).toMatch(
      /^Render's export: drill FAILED ProviderDrillFailedError: .*the export is truncated/,
    );
  });

  it('prints nothing when it was skipped or the run never concluded', () => {
    expect(renderDrillLine(concluded({ render: { skipped: true, reason: 'not configured' } }))).toEqual([]);
    expect(renderDrillLine({ states: [] })).toEqual([]);
  });
});
