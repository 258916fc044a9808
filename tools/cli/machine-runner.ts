/**
 * The one shape of a run command (backup, drill, restore): a state machine run to its end, locally or
 * on a stage. A command asks a `MachineRunner` for the vault it checks first, hands the restore
 * target's URL to its `TargetSecrets`, and runs the machine; which place it runs in is decided once,
 * here, from `--local` / `--stage`:
 * - locally (tools/local/machine-runner.ts): aws-local-stepfunctions runs the real ASL with the real
 *   handlers against the local servers; the target's URL reaches the local worker in its environment;
 * - on a stage (./stage-run.ts, tools/aws/): StartExecution of the deployed state machine, followed
 *   through its history; the target's URL goes into a Secrets Manager secret of its own.
 * Both answer with the same `Execution` (the history's shape), which the commands' verdicts read.
 */
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { MachineName } from '../../functions/tasks.ts';
import type { StageExecution } from '../../lib/aws/history.ts';
import type { BackupStore } from '../../lib/storage/backup-store.ts';
import { LocalMachineRunner } from '../local/machine-runner.ts';
import {
  type CommandContext,
  localStore,
  type Place,
  sfnFor,
  vaultFor,
  withLocal,
  withTarget,
} from './context.ts';
import type { LastDump } from './progress.ts';
import { localRunOutput } from './run-output.ts';
import { StageMachineRunner } from './stage-run.ts';

/**
 * A finished execution as a command reads it: from the local runner's record or a stage's history. A
 * local run a signal stopped is ABORTED and names the signal (the CLI exits as a shell reports it).
 */
export type Execution = StageExecution & { interruptedBy?: NodeJS.Signals | undefined };

export interface MachineRunOptions {
  /** The database's last dump, which the dump's progress percent is estimated from. */
  lastDump?: LastDump | undefined;
  /** Called once the execution exists: from then on it owns the target's secret (ForgetTarget). */
  onStarted?: () => void;
}

/** The restore target's URL (it holds a password), kept out of every execution input and history. */
export interface TargetSecrets {
  /**
   * Holds the URL where the Restore step reads it; the reference is what the execution carries
   * (`targetSecret`). `forget` removes it when no execution ever started; once one has, its
   * ForgetTarget state does.
   */
  hold(url: string): Promise<HeldSecret>;
}

export interface HeldSecret {
  reference: string;
  forget(): Promise<void>;
}

export interface MachineRunner {
  readonly where: 'local' | 'stage';
  /** The command that lists this place's backups (usage errors point at it). */
  readonly listCommand: string;
  /** Whether a progress line may be drawn (worth estimating the dump's percent for). */
  readonly drawsProgress: boolean;
  /** The vault the run works on: the bucket's, or `--database`'s. */
  vault(): Promise<BackupStore>;
  readonly targetSecrets: TargetSecrets;
  /** Runs the machine to its end; `interrupted` when Ctrl-C stopped following a stage's execution. */
  run(machine: MachineName, input: unknown, options?: MachineRunOptions): Promise<Execution | 'interrupted'>;
}

/** How an execution's input names who started it: `cli` on this machine, `manual` on a stage. */
export const triggerOf = (place: Place): 'cli' | 'manual' => (place.kind === 'stage' ? 'manual' : 'cli');

/**
 * The runner for where the command runs: on a stage, at once; locally, inside a local environment
 * started with what `need` says (and stopped after `work`).
 */
export async function withMachineRunner<T>(
  { place, values, out, deps }: CommandContext,
  need: { production?: boolean; staging?: boolean },
  work: (runner: MachineRunner) => Promise<T>,
  /** Told what the local environment does on the way (a first run's seeding). */
  onProgress?: (message: string) => void,
): Promise<T> {
  if (place.kind === 'stage') {
    const { settings } = place;
    let vault: Promise<BackupStore> | undefined;
    return work(
      new StageMachineRunner({
        settings,
        api: sfnFor(settings, deps),
        deps,
        out,
        vault: () => {
          vault ??= withTarget(place, deps, async ({ runtime }) => runtime.store);
          return vault;
        },
        secrets: () =>
          (deps.secrets ?? ((region: string) => new SecretsManagerClient({ region })))(settings.region),
      }),
    );
  }
  return withLocal(
    need,
    (environment) =>
      work(
        new LocalMachineRunner(environment, {
          vault: () => vaultFor(localStore(environment), place.database),
          display: (machine, lastDump) => localRunOutput(out, values, machine, lastDump),
        }),
      ),
    onProgress,
  );
}
