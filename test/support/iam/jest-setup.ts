/**
 * Every test runs with IAM enforced (./enforce.ts): after each test, any request the template's roles
 * would not allow, in this process or in a local worker's, fails the test, naming the function, its
 * role, the action and the resource.
 */
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach } from '@jest/globals';
import { type Denial, describeDenial, enforceIam, takeDenials } from './enforce.ts';

const workerReport = join(tmpdir(), `iam-denials-${process.pid}.jsonl`);

/** The node options that check a local worker's requests too (tools/local's `workerExecArgv`). */
export function iamWorkerExecArgv(): string[] {
  const hook = pathToFileURL(join(import.meta.dirname, 'worker-hook.ts'));
  hook.searchParams.set('report', workerReport);
  return ['--import', hook.href];
}

function takeWorkerDenials(): Denial[] {
  let text = '';
  try {
    text = readFileSync(workerReport, 'utf8');
  } catch {
    return [];
  }
  rmSync(workerReport, { force: true });
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Denial);
}

enforceIam();

afterEach(() => {
  const denials = [...takeDenials(), ...takeWorkerDenials()];
  if (denials.length > 0) {
    throw new Error(
      `AWS requests the template's IAM policies deny:\n${denials.map(describeDenial).join('\n')}`,
    );
  }
});
