/**
 * A local run writes a RUNNING record naming its process before its first state; readers decide with
 * the process check they are given whether that run still goes on, or ended without a record.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { endedWithoutRecord, readLocalExecutions } from '../../../../lib/report/executions.ts';

let stateDir: string;
const running = {
  executionArn: 'arn:aws:states:local:000000000000:execution:backup:run-1',
  stateMachine: 'backup',
  input: { trigger: 'cli', reason: 'before migration 42' },
  startedAt: '2026-12-07T10:00:00.000Z',
  status: 'RUNNING',
  runner: { pid: 4242, startTime: '123456' },
  runningState: 'Dump',
  states: [{ name: 'Plan', status: 'succeeded', startedAt: '2026-12-07T10:00:00.100Z', durationMs: 80 }],
};

beforeAll(async () => {
  stateDir = await mkdtemp(join(tmpdir(), 'executions-'));
  await mkdir(join(stateDir, 'executions'));
  await writeFile(join(stateDir, 'executions', 'run-1.json'), JSON.stringify(running));
});

afterAll(async () => {
  await rm(stateDir, { recursive: true, force: true });
});

describe('readLocalExecutions()', () => {
  it('reads a RUNNING record whose process is gone as ABORTED, ended without a record, where it was', async () => {
    const asked: unknown[] = [];
    const [execution] = await readLocalExecutions(stateDir, {
      isAlive: async (runner) => {
        asked.push(runner);
        return false;
      },
    });
    expect(asked).toEqual([{ pid: 4242, startTime: '123456' }]);
    expect(execution).toMatchObject({
      status: 'ABORTED',
      error: {
        name: endedWithoutRecord,
        cause:
          'ended without a record (killed?): its process 4242 is gone; it was in Dump, and nothing says how it ended',
      },
      states: [{ name: 'Plan' }],
      input: { reason: 'before migration 42' },
    });
  });

  it('keeps it RUNNING while its process lives, and without a process check', async () => {
    expect((await readLocalExecutions(stateDir, { isAlive: async () => true }))[0]?.status).toBe('RUNNING');
    expect((await readLocalExecutions(stateDir))[0]?.status).toBe('RUNNING');
  });
});
