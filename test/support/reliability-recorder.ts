/**
 * What a fault test observed, written down for docs/reliability.md. Only when RELIABILITY_REPORT=1
 * (set by `npm run reliability`); otherwise a no-op, so `npm test` writes nothing.
 *
 * A record is written by the shared assertion helpers *after* their assertions passed, and the
 * renderer (test/support/reliability-report.ts) keeps a row only if Jest also reports the whole test as
 * passed. So the table cannot claim an outcome that the suite did not show.
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import { relative } from 'node:path';
import { expect } from '@jest/globals';
import { projectRoot } from '../../tools/local/environment.ts';
import type { ExecutionRecord } from '../../tools/local/state-machine-runner.ts';

export const reliabilityDir = `${projectRoot}/.reliability`;
export const recordsFile = `${reliabilityDir}/records.jsonl`;

export interface ReliabilityRecord {
  /** Test file, relative to the project. */
  file: string;
  /** Jest's full test name (describe + it): the key that joins records with test results. */
  test: string;
  /** What was broken, in a few words (`wrong password`, `503 on every UploadPart`). */
  fault?: string;
  area?:
    | 'database'
    | 'object store'
    | 'staging'
    | 'scratch server'
    | 'worker'
    | 'time'
    | 'input'
    | 'secrets'
    | 'content';
  expectedError?: string;
  /** Execution status and error name as observed. */
  observed?: string;
  failedStep?: string;
  /** Retries per Task state (`Dump: 2`), as the state machine ran them. */
  retries?: Record<string, number>;
  /** Invariants the helpers asserted and saw hold. */
  invariants: string[];
}

export function reliabilityReportEnabled(): boolean {
  return process.env.RELIABILITY_REPORT === '1';
}

export function retriesOf(execution: ExecutionRecord): Record<string, number> {
  const retries: Record<string, number> = {};
  for (const state of execution.states) {
    if (state.status === 'retried') retries[state.name] = (retries[state.name] ?? 0) + 1;
  }
  return retries;
}

export function observedOutcome(execution: ExecutionRecord): string {
  return execution.status === 'SUCCEEDED' ? 'SUCCEEDED' : `FAILED ${execution.error?.name ?? '(no name)'}`;
}

/** Appends what the current test showed; records of one test are merged by the renderer. */
export function recordReliability(record: Omit<ReliabilityRecord, 'file' | 'test'>): void {
  if (!reliabilityReportEnabled()) return;
  const state = expect.getState();
  const full: ReliabilityRecord = {
    file: relative(projectRoot, state.testPath ?? ''),
    test: state.currentTestName ?? '(unknown test)',
    ...record,
  };
  mkdirSync(reliabilityDir, { recursive: true });
  appendFileSync(recordsFile, `${JSON.stringify(full)}\n`);
}
