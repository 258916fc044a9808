import { describe, expect, it } from '@jest/globals';
import type { ExecutionSummary } from '../../../../lib/report/executions.ts';
import { silenceHours, undeliveredFailureAlerts } from '../../../../lib/report/silence.ts';
import type { DatabaseStatus } from '../../../../lib/report/status-report.ts';

const now = new Date('2026-09-08T05:00:00Z');
const hoursAgo = (hours: number) => new Date(now.getTime() - hours * 3_600_000).toISOString();

function database(name: string, ageHours: number | null): DatabaseStatus {
  return {
    database: name,
    vault: name,
    state: 'ok',
    withinRpo: true,
    newestVerified: null,
    ageHours,
    awaitingFirstVerifiedBackup: false,
    lastRunFailed: false,
  };
}

/** A failed execution that ended `hours` ago, its NotifyFailure state published (or not). */
function failed(
  stateMachine: string,
  hours: number,
  notify: 'succeeded' | 'caught' | 'none',
  db?: string,
): ExecutionSummary {
  return {
    executionArn: `arn:${stateMachine}:${hours}`,
    stateMachine,
    startedAt: hoursAgo(hours + 0.1),
    stoppedAt: hoursAgo(hours),
    status: 'FAILED',
    ...(db ? { input: { trigger: 'schedule', database: db } } : {}),
    error: { name: 'DumpFailedError', cause: 'x' },
    states:
      notify === 'none'
        ? []
        : [{ name: 'NotifyFailure', status: notify, startedAt: hoursAgo(hours), durationMs: 200 }],
  };
}

describe('silence', () => {
  describe('silenceHours()', () => {
    it('is the backup age when nothing failed', () => {
      expect(silenceHours([database('shop', 6)], [], now)).toBe(6);
    });

    it('counts from a delivered failure alert: a failed night was announced, with its cause', () => {
      expect(silenceHours([database('shop', 27)], [failed('backup', 3, 'succeeded', 'shop')], now)).toBe(3);
    });

    it('does not count a failure whose alert was not published', () => {
      expect(silenceHours([database('shop', 27)], [failed('backup', 3, 'caught', 'shop')], now)).toBe(27);
    });

    it("takes the stalest database: another database's alert says nothing about this one", () => {
      const databases = [database('shop', 6), database('crm', 27)];
      expect(silenceHours(databases, [failed('backup', 3, 'succeeded', 'shop')], now)).toBe(27);
      expect(silenceHours(databases, [failed('backup', 3, 'succeeded', 'crm')], now)).toBe(6);
    });

    it("counts the nightly run's own failure alert for every database", () => {
      const databases = [database('shop', 27), database('crm', 27)];
      expect(silenceHours(databases, [failed('nightly', 3, 'succeeded')], now)).toBe(3);
    });

    it("counts a stage's first failed night, before any manifest names its database", () => {
      const unnamed = { ...database('shop', null), database: null };
      expect(silenceHours([unnamed], [failed('backup', 3, 'succeeded', 'shop')], now)).toBe(3);
    });

    it('is absent when no database has any figure, so the missing datapoint breaches', () => {
      expect(silenceHours([database('shop', null)], [], now)).toBeUndefined();
    });
  });

  describe('undeliveredFailureAlerts()', () => {
    it('counts failed backups and drills of the last 24 h whose alert did not get out', () => {
      const executions = [
        failed('backup', 1, 'succeeded', 'shop'),
        failed('backup', 2, 'caught', 'shop'),
        failed('drill', 3, 'none', 'shop'),
        failed('backup', 30, 'caught', 'shop'),
        // The nightly run's SomeDatabasesFailed has no alert of its own: its databases' runs alerted.
        failed('nightly', 1, 'none'),
      ];
      expect(undeliveredFailureAlerts(executions, now)).toBe(2);
    });
  });
});
