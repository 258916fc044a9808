/**
 * The local side of the CLI's one run shape (tools/cli/machine-runner.ts): the real ASL run by
 * aws-local-stepfunctions (./state-machine-runner.ts) in a started local environment, the restore
 * target's URL held in memory for the local worker (./run-restore.ts).
 */
import type { MachineName } from '../../functions/tasks.ts';
import type { BackupStore } from '../../lib/storage/backup-store.ts';
import type { Execution, MachineRunner, MachineRunOptions } from '../cli/machine-runner.ts';
import type { LastDump } from '../cli/progress.ts';
import type { LocalEnvironment } from './environment.ts';
import { type LocalRunOptions, runLocalMachine } from './run-backup.ts';
import { LocalTargetSecrets } from './run-restore.ts';

export class LocalMachineRunner implements MachineRunner {
  readonly where = 'local';
  readonly listCommand = 'backupctl list';
  /** The progress line itself draws only on a terminal and never with --json. */
  readonly drawsProgress = true;
  readonly targetSecrets: LocalTargetSecrets;
  readonly #environment: LocalEnvironment;
  readonly #vault: () => Promise<BackupStore>;
  readonly #display: (machine: MachineName, lastDump?: LastDump) => LocalRunOptions;

  constructor(
    environment: LocalEnvironment,
    options: {
      /** The local vault the run works on (`--database`'s, or the bucket's). */
      vault: () => Promise<BackupStore>;
      /** How a run shows on the terminal: its state lines, and a progress line or the log lines. */
      display: (machine: MachineName, lastDump?: LastDump) => LocalRunOptions;
    },
  ) {
    this.#environment = environment;
    this.#vault = options.vault;
    this.#display = options.display;
    this.targetSecrets = new LocalTargetSecrets(environment);
  }

  vault(): Promise<BackupStore> {
    return this.#vault();
  }

  async run(machine: MachineName, input: unknown, options: MachineRunOptions = {}): Promise<Execution> {
    const display = this.#display(machine, options.lastDump);
    // A local execution is this process: it starts now, and ends (or is interrupted) with it.
    options.onStarted?.();
    return runLocalMachine(machine, this.#environment, input, {
      ...display,
      settings: { ...display.settings, ...this.targetSecrets.settings() },
    });
  }
}
