import { describe, expect, it } from '@jest/globals';
import { heartbeatHearsFail, relayMessage } from '../../../../lib/notify/alert-relay.ts';

const arn = 'arn:aws:states:eu-central-1:123456789012:execution:verified-pg-backups-prod-drill:quarterly-1';

/** NotifyFailure's message as statemachines/drill.asl.json formats it. */
const notifyFailure = (cause: string) =>
  [
    `Restore drill execution ${arn} failed in step RestoreAndCheck.`,
    'Error: RowCountMismatchError',
    `Cause: ${cause}`,
    'The scratch server is removed by the step that started it. See BACKUP_RUNBOOK.md for this error name.',
  ].join('\n');

describe('relayMessage', () => {
  it("reads the step, error and Lambda's JSON cause of a NotifyFailure message", () => {
    const cause = JSON.stringify({
      errorType: 'RowCountMismatchError',
      errorMessage: 'public.orders: 10 != 9',
    });
    const message = relayMessage('Restore drill FAILED', notifyFailure(cause), 'prod');
    expect(message.subject).toBe('[prod] Restore drill FAILED: RowCountMismatchError in RestoreAndCheck');
    expect(message.details).toEqual({
      kind: 'failure',
      stage: 'prod',
      stateMachine: 'drill',
      execution: arn,
      step: 'RestoreAndCheck',
      error: 'RowCountMismatchError',
      cause: 'public.orders: 10 != 9',
    });
    expect(message.text.split('\n').at(-1)).toContain('See BACKUP_RUNBOOK.md');
    expect(heartbeatHearsFail(message)).toBe(false);
  });

  it('keeps a cause that spans lines or is not JSON as it is', () => {
    const message = relayMessage(
      undefined,
      notifyFailure('worker build b-1: FAILED\nphase BUILD'),
      undefined,
    );
    expect(message.details?.cause).toBe('worker build b-1: FAILED\nphase BUILD');
    expect(message.subject).toBe('FAILED: RowCountMismatchError in RestoreAndCheck');
  });

  it('passes on anything else as a notice, unchanged', () => {
    const message = relayMessage('[prod] Render backups need attention', 'recovery NOT_AVAILABLE', 'prod');
    expect(message).toEqual({
      subject: '[prod] Render backups need attention',
      text: 'recovery NOT_AVAILABLE',
      details: { kind: 'notice', stage: 'prod' },
    });
    expect(heartbeatHearsFail(message)).toBe(false);
  });

  // A failed night pings /fail from its own Heartbeat state; the relay adds one only for the age alarm.
  it('pings the heartbeat /fail only for the backup-age alarm, never for a backup execution', () => {
    const alarm = (name: string, state = 'ALARM') =>
      relayMessage(
        'ALARM',
        JSON.stringify({ AlarmName: name, NewStateValue: state, NewStateReason: 'r' }),
        'p',
      );
    expect(heartbeatHearsFail(alarm('verified-pg-backups-p-backup-age-above-rpo'))).toBe(true);
    expect(heartbeatHearsFail(alarm('verified-pg-backups-p-backup-age-above-rpo', 'OK'))).toBe(false);
    expect(heartbeatHearsFail(alarm('verified-pg-backups-p-backup-execution-timed-out'))).toBe(false);
    expect(heartbeatHearsFail(alarm('verified-pg-backups-p-backup-execution-failed'))).toBe(false);
    expect(heartbeatHearsFail(alarm('verified-pg-backups-p-drill-execution-failed'))).toBe(false);
  });
});
