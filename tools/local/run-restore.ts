/**
 * `backupctl restore --local`: run the real restore state machine, whose Restore step runs on the local
 * worker (a child process), as `--stage` does on CodeBuild. The target's URL stays in memory and reaches
 * the worker in its environment (LOCAL_SECRET_VALUES), never a file: a run killed with SIGKILL leaves
 * nothing behind. The execution carries only `local:<name>`, as a stage's execution carries only the
 * ARN of the secret the CLI creates. Files an older version left under LOCAL_SECRETS_DIR are removed.
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigurationError } from '../../lib/errors.ts';
import type { HeldSecret, TargetSecrets } from '../cli/machine-runner.ts';
import type { LocalEnvironment } from './environment.ts';
import { type LocalRunOptions, runLocalMachine } from './run-backup.ts';
import type { ExecutionRecord } from './state-machine-runner.ts';

export interface RestoreRequest {
  backupId: string;
  targetUrl: string;
  jobs?: number | undefined;
  reason?: string | undefined;
  withRoles?: boolean | undefined;
  targetNotProduction?: boolean | undefined;
  database?: string | undefined;
  allowUnverified?: boolean | undefined;
  countsOnly?: boolean | undefined;
}

/** The restore machine's input for a request: the target by its reference only, never its URL. */
export function restoreInput(request: Omit<RestoreRequest, 'targetUrl'>, targetSecret: string) {
  return {
    backupId: request.backupId,
    targetSecret,
    trigger: 'cli' as const,
    ...(request.jobs === undefined ? {} : { jobs: request.jobs }),
    ...(request.reason === undefined ? {} : { reason: request.reason }),
    ...(request.withRoles ? { withRoles: true } : {}),
    ...(request.targetNotProduction ? { targetNotProduction: true } : {}),
    ...(request.allowUnverified ? { allowUnverified: true } : {}),
    ...(request.countsOnly ? { countsOnly: true } : {}),
    ...(request.database === undefined ? {} : { database: request.database }),
  };
}

/**
 * The local side of TargetSecrets: each URL held in memory under `local:<name>`, handed to the local
 * runs (and so to the worker's environment) as the settings below.
 */
export class LocalTargetSecrets implements TargetSecrets {
  readonly #values = new Map<string, string>();
  readonly #environment: LocalEnvironment;

  constructor(environment: LocalEnvironment) {
    this.#environment = environment;
  }

  async hold(url: string): Promise<HeldSecret> {
    const dir = this.#environment.settings.LOCAL_SECRETS_DIR;
    if (!dir) throw new ConfigurationError('the local environment has no LOCAL_SECRETS_DIR');
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await chmod(dir, 0o700);
    await removeLeftSecrets(dir);
    const name = `restore-${randomBytes(8).toString('hex')}`;
    this.#values.set(name, url);
    return {
      reference: `local:${name}`,
      forget: async () => void this.#values.delete(name),
    };
  }

  /** What a local run's settings carry for the worker: the URLs held, by name. */
  settings(): Record<string, string> {
    if (this.#values.size === 0) return {};
    return { LOCAL_SECRET_VALUES: JSON.stringify(Object.fromEntries(this.#values)) };
  }
}

export async function runLocalRestore(
  environment: LocalEnvironment,
  request: RestoreRequest,
  options: LocalRunOptions = {},
): Promise<ExecutionRecord> {
  const secrets = new LocalTargetSecrets(environment);
  const { targetUrl, ...rest } = request;
  const held = await secrets.hold(targetUrl);
  return runLocalMachine('restore', environment, restoreInput(rest, held.reference), {
    ...options,
    settings: { ...options.settings, ...secrets.settings() },
  });
}

/** Target URLs an older version wrote to files (a killed run never removed them). */
async function removeLeftSecrets(dir: string): Promise<void> {
  for (const entry of await readdir(dir)) {
    if (entry.startsWith('restore-')) await rm(join(dir, entry), { force: true });
  }
}
