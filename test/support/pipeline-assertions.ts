/**
 * What every failure path of the pipeline must prove, shared by the pipeline test files: the alert went
 * out through the (mocked) SNS client with the error's name and step, and nothing of the failed run is
 * verified, half-promoted or left as an open multipart upload.
 */
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { expect } from '@jest/globals';
import { mockClient } from 'aws-sdk-client-mock';
import type { ExecutionRecord } from '../../lib/local/state-machine-runner.ts';
import type { BackupStore } from '../../lib/storage/backup-store.ts';

/** The SNS client as the state machine's native publish and the Notify step use it; reset per test. */
export const sns = mockClient(SNSClient);

export function alerts(): { subject: string; message: string }[] {
  return sns.commandCalls(PublishCommand).map((call) => ({
    subject: String(call.args[0].input.Subject),
    message: String(call.args[0].input.Message),
  }));
}

/** Nothing from a failed run may look verified, be half-promoted or keep a multipart upload open. */
export async function expectNothingVerifiedOrLeftOver(store: BackupStore): Promise<void> {
  const objects = await store.list('');
  expect(objects.filter((o) => o.key.endsWith('.verification.json'))).toEqual([]);
  expect(objects.filter((o) => o.key.startsWith('backups/'))).toEqual([]);
  expect(await store.listIncompleteUploads('')).toEqual([]);
}

export function expectFailureAlert(execution: ExecutionRecord, errorName: string, step: string): string {
  expect(execution.status).toBe('FAILED');
  expect(execution.error?.name).toBe(errorName);
  const failure = alerts().find((a) => a.subject.includes('FAILED'));
  expect(failure).toBeDefined();
  expect(failure?.message).toContain(`failed in step ${step}`);
  expect(failure?.message).toContain(errorName);
  return failure?.message ?? '';
}
