/**
 * `backupctl restore --local`: run the real restore state machine, whose Restore step runs on the local
 * worker (a child process), as `--stage` does on CodeBuild. The target's URL goes to a file of its own
 * under LOCAL_SECRETS_DIR (mode 0600) for the run's duration, and the execution carries only
 * `local:<name>`, as a stage's execution carries only the ARN of the secret the CLI creates.
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigurationError } from '../../lib/errors.ts';
import type { LocalEnvironment } from './environment.ts';
import { type LocalRunOptions, runSettings } from './run-backup.ts';
import { type ExecutionRecord, runStateMachine } from './state-machine-runner.ts';

export interface RestoreRequest {
  backupId: string;
  targetUrl: string;
  jobs?: number | undefined;
  reason?: string | undefined;
  withRoles?: boolean | undefined;
  database?: string | undefined;
  allowUnverified?: boolean | undefined;
  countsOnly?: boolean | undefined;
}

export async function runLocalRestore(
  environment: LocalEnvironment,
  request: RestoreRequest,
  options: LocalRunOptions = {},
): Promise<ExecutionRecord> {
  const dir = environment.settings.LOCAL_SECRETS_DIR;
  if (!dir) throw new ConfigurationError('the local environment has no LOCAL_SECRETS_DIR');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  const name = `restore-${randomBytes(8).toString('hex')}`;
  const file = join(dir, name);
  await writeFile(file, request.targetUrl, { mode: 0o600 });
  try {
    return await runStateMachine({
      machine: 'restore',
      input: {
        backupId: request.backupId,
        targetSecret: `local:${name}`,
        trigger: 'cli',
        ...(request.jobs === undefined ? {} : { jobs: request.jobs }),
        ...(request.reason === undefined ? {} : { reason: request.reason }),
        ...(request.withRoles ? { withRoles: true } : {}),
        ...(request.allowUnverified ? { allowUnverified: true } : {}),
        ...(request.countsOnly ? { countsOnly: true } : {}),
        ...(request.database === undefined ? {} : { database: request.database }),
      },
      ...runSettings(environment, options),
    });
  } finally {
    await rm(file, { force: true });
  }
}
