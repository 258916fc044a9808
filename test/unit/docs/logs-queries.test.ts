/**
 * docs/logs.md's Logs Insights queries read fields the steps really write. The lines here are the real
 * step handler's (lib/lambda/handler.ts) around a step that succeeds and one that fails, with the event
 * a Promote state gets; test/integration/step-logs.test.ts checks the same against a night's lines.
 */
import { describe, expect, it } from '@jest/globals';
import type { Context } from 'aws-lambda';
import { readRuntimeSettings } from '../../../lib/config.ts';
import { ChecksumMismatchError } from '../../../lib/errors.ts';
import { stepHandler } from '../../../lib/lambda/handler.ts';
import { createRuntime } from '../../../lib/runtime.ts';
import { documentedQueries, fieldsOf, messagesFilteredOn } from '../../support/logs-insights.ts';

const runtime = createRuntime(readRuntimeSettings({ BACKUP_BUCKET: 'backups-test' }));
const event = {
  executionId: 'arn:aws:states:us-east-1:123456789012:execution:verified-pg-backups-prod-backup:night',
  backupId: '20261207T030405Z-a1b2c3',
  target: { database: 'shop', scope: null },
};

async function capturedLines(): Promise<Record<string, unknown>[]> {
  const lines: string[] = [];
  const dependencies = { runtime: () => runtime, sink: (line: string) => void lines.push(line) };
  const context = { getRemainingTimeInMillis: () => 60_000 } as Context;
  await stepHandler(
    'promote',
    async () => ({ backupId: event.backupId, bytes: 42 }),
    dependencies,
  )(event, context);
  await stepHandler(
    'checksum',
    async () => {
      throw new ChecksumMismatchError('the dump does not match its manifest');
    },
    dependencies,
  )(event, context).catch(() => undefined);
  return lines.map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe('docs/logs.md', () => {
  it('has the three ready queries: a night by execution id, failures by error, slowest steps', () => {
    expect(documentedQueries().map((q) => q.title)).toEqual([
      "A night's lines, by execution id",
      'Failures by error name',
      'Slowest steps',
    ]);
  });

  it.each(documentedQueries().map((q) => [q.title, q.query]))(
    '"%s" reads fields the steps write',
    async (_title, query) => {
      const lines = await capturedLines();
      const written = new Set(lines.flatMap((line) => Object.keys(line)));
      expect(fieldsOf(query).length).toBeGreaterThan(0);
      expect(fieldsOf(query).filter((field) => !written.has(field))).toEqual([]);
      const messages = new Set(lines.map((line) => line.message));
      expect(messagesFilteredOn(query).filter((message) => !messages.has(message))).toEqual([]);
    },
  );

  it('catches a query field the steps do not write', () => {
    expect(fieldsOf('filter execution_id = "x" | stats count(*) as n by stepName')).toEqual([
      'execution_id',
      'stepName',
    ]);
  });
});
