/**
 * The lease's lifetime and the backup state machine's timeouts and retries are one contract: a live
 * holder never loses its lease, and an execution waiting for staging outlasts any lease.
 */
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from '@jest/globals';
import { stagingLeaseSeconds } from '../../../../lib/verify/staging-lease.ts';

interface RetryRule {
  ErrorEquals: string[];
  IntervalSeconds?: number;
  MaxAttempts?: number;
  BackoffRate?: number;
  JitterStrategy?: string;
}
interface State {
  TimeoutSeconds?: number;
  Retry?: RetryRule[];
}

const text = await readFile(new URL('../../../../statemachines/backup.asl.json', import.meta.url), 'utf8');
const states = (JSON.parse(text) as { States: Record<string, State> }).States;

/** The longest a rule can make Step Functions wait in total (ASL defaults: 1 s, 3 attempts, rate 2). */
const totalWait = (rule: RetryRule) =>
  Array.from(
    { length: rule.MaxAttempts ?? 3 },
    (_, attempt) => (rule.IntervalSeconds ?? 1) * (rule.BackoffRate ?? 2) ** attempt,
  ).reduce((sum, seconds) => sum + seconds, 0);

/**
 * A lease is taken when a Verify attempt starts its restore and renewed when its comparison starts (a
 * failed restore gives it back; a comparison that fails keeps it for the retry, which takes it again).
 * Between two renewals: one Verify attempt, then every wait Verify's own Retry rules can add before its
 * next attempt (the StagingBusyError wait is for executions that do not hold the lease).
 */
const holderWaits = (states.Verify?.Retry ?? [])
  .filter((rule) => !rule.ErrorEquals.includes('StagingBusyError'))
  .reduce((sum, rule) => sum + totalWait(rule), 0);
const longestGap = (state: State | undefined) =>
  (state?.TimeoutSeconds ?? Number.POSITIVE_INFINITY) + holderWaits;

describe('stagingLeaseSeconds', () => {
  it('outlives one attempt of the step that holds the lease, with all its retry waits', () => {
    expect(longestGap(states.Verify)).toBeLessThan(stagingLeaseSeconds);
  });

  it('is outlasted by the wait of an execution that finds staging busy, which is not left to jitter', () => {
    const busy = states.Verify?.Retry?.find((rule) => rule.ErrorEquals.includes('StagingBusyError'));
    expect(busy?.ErrorEquals).toEqual(['StagingBusyError']);
    expect(busy?.JitterStrategy).toBeUndefined();
    expect(totalWait(busy as RetryRule)).toBeGreaterThan(stagingLeaseSeconds);
  });

  it('keeps the busy wait inside the execution timeout, next to the other steps', () => {
    const busy = states.Verify?.Retry?.find((rule) => rule.ErrorEquals.includes('StagingBusyError'));
    const timeout = (JSON.parse(text) as { TimeoutSeconds: number }).TimeoutSeconds;
    const oneAttemptEach = ['Dump', 'Promote', 'Checksum', 'Verify', 'Notify']
      .map((name) => states[name]?.TimeoutSeconds ?? 0)
      .reduce((sum, seconds) => sum + seconds, 0);
    expect(totalWait(busy as RetryRule) + oneAttemptEach).toBeLessThan(timeout);
  });
});
