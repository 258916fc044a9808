import { describe, expect, it } from '@jest/globals';
import { logKeysOf } from '../../../../lib/logging.ts';
import { heartbeatHearsFail, relayMessage } from '../../../../lib/notify/alert-relay.ts';
import { documentedQueries } from '../../../support/logs-insights.ts';

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

  it('says where the executions behind an alarm are, as it has no execution id: the audit and a documented query', () => {
    const alarm = relayMessage(
      'ALARM',
      JSON.stringify({
        AlarmName: 'verified-pg-backups-prod-failure-alert-undelivered',
        NewStateValue: 'ALARM',
      }),
      'prod',
    );
    const line = alarm.text.split('\n').at(-1) ?? '';
    expect(line).toContain('npx backupctl audit --stage prod --since 2d');
    const query = /Logs Insights query "([^"]+)" \(docs\/logs\.md\)/.exec(line)?.[1];
    expect(documentedQueries().map((q) => q.title)).toContain(query);
    expect(alarm.details?.findExecutions).toBe(line);
    const recovered = relayMessage(
      'OK',
      JSON.stringify({
        AlarmName: 'verified-pg-backups-prod-failure-alert-undelivered',
        NewStateValue: 'OK',
      }),
      'prod',
    );
    expect(recovered.text).not.toContain('backupctl audit');
  });
});

describe("logKeysOf() for the relay's SNS event", () => {
  const backupArn =
    'arn:aws:states:eu-central-1:123456789012:execution:verified-pg-backups-prod-backup:night-shop';
  const sns = (message: string) => ({ Records: [{ Sns: { Subject: 'Backup FAILED', Message: message } }] });

  it("puts the failed execution's id and its database on the relay's lines", () => {
    const message = [
      `Backup execution ${backupArn} failed in step Dump.`,
      `Input: ${JSON.stringify({ trigger: 'schedule', database: 'shop' })}`,
      'Error: DumpFailedError',
      'Cause: pg_dump exited 1',
      'No backup from this run is marked verified. See BACKUP_RUNBOOK.md for this error name.',
    ].join('\n');
    expect(logKeysOf(sns(message))).toEqual({ executionId: backupArn, database: 'shop' });
    expect(relayMessage('Backup FAILED', message, 'prod').details).toMatchObject({ database: 'shop' });
  });

  it('puts no database on the lines of a run for no particular one, nor of an alarm', () => {
    const message = [
      `Backup execution ${backupArn} failed in step Dump.`,
      'Input: {"trigger":"manual"}',
      'Error: DumpFailedError',
      'Cause: x',
      'advice',
    ].join('\n');
    expect(logKeysOf(sns(message))).toEqual({ executionId: backupArn });
    expect(logKeysOf(sns(JSON.stringify({ AlarmName: 'a', NewStateValue: 'ALARM' })))).toEqual({});
  });
});
