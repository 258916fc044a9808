/**
 * backupctl: drive the pipeline from a terminal. This file only parses and dispatches; each command is
 * one file in commands/, and what they do lives in lib/commands/ (shared with the Lambda steps).
 * Exit codes (documented in README and the runbook): 0 ok, 1 failed, 2 usage or configuration error,
 * 3 verification failed (checksum, archive, counts); 130 when Ctrl-C stopped following an execution on
 * a stage (the execution keeps running). `--local` runs against local services, `--stage <stage>`
 * against a deployed stage.
 */
import { parseArgs } from 'node:util';
import { BackupError, describeError } from '../../lib/errors.ts';
import { parseSince } from '../../lib/report/audit.ts';
import { auditCommand } from './commands/audit.ts';
import { backupCommand } from './commands/backup.ts';
import { downloadCommand } from './commands/download.ts';
import { drillCommand } from './commands/drill.ts';
import { listCommand } from './commands/list.ts';
import { restoreCommand } from './commands/restore.ts';
import { retentionCommand } from './commands/retention.ts';
import { statusCommand } from './commands/status.ts';
import { verifyCommand } from './commands/verify.ts';
import {
  type CliDependencies,
  type CommandContext,
  exitCodeFor,
  exitCodes,
  type Output,
  placeOf,
  type Values,
} from './context.ts';

export { type CliDependencies, exitCodes };

const usage = `Usage: backupctl <command> [options]

Commands:
  backup [--reason TEXT] [--compression zstd:1]   run the backup state machine, printing each state
  list                                            backups with time, size, verified, SHA-256
  verify <id|latest>                              re-hash the stored dump and read its archive
  restore <id|latest> --target-url URL [--jobs N] restore on the worker into an opted-in database: checksum,
                                                  production guard, pg_restore -j, counts
  download <id|latest> [--out DIR]                the dump (checked against its manifest) and the manifest,
                                                  for a restore by hand with pg_restore
  retention [--apply]                             what the retention policy keeps (and why) and lets expire;
                                                  --apply marks them as the daily pass does
  status [--write]                                backup status report (RPO, last failure, drill, trend);
                                                  --write puts status.json, BACKUP_STATUS.md, badge.svg in the bucket
  audit [--since 30d]                             executions of both state machines: trigger, steps, causes
  drill [id|latest] [--reason TEXT]               restore drill into a fresh database, with evidence

Where: --local (default: local services, .local/ state) or --stage <stage> [--region R]
  (the stage deployed from config/<stage>.yml, with the default AWS credentials; verify and download
  run on this machine, restore on the stage's worker)
Options: --json (machine-readable output), --verbose (local runs: print each step's JSON log line;
  they are kept in .local/logs/steps.log either way)
Exit codes: 0 ok, 1 failed, 2 usage or configuration error, 3 verification failed;
  130: stopped following with Ctrl-C (the execution on AWS keeps running)`;

const commonOptions = ['json', 'local', 'stage', 'region', 'help', 'verbose'];

/** Each command, and the options it reads: anything else is a mistake, not something to ignore. */
const commands: Record<string, { options: string[]; run: (context: CommandContext) => Promise<number> }> = {
  backup: { options: ['reason', 'compression'], run: backupCommand },
  list: { options: [], run: listCommand },
  verify: { options: [], run: verifyCommand },
  restore: { options: ['target-url', 'jobs'], run: restoreCommand },
  download: { options: ['out'], run: downloadCommand },
  retention: { options: ['apply'], run: retentionCommand },
  status: { options: ['write'], run: statusCommand },
  audit: { options: ['since'], run: auditCommand },
  drill: { options: ['reason'], run: drillCommand },
};

export async function main(argv: string[], deps: CliDependencies = {}): Promise<number> {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        json: { type: 'boolean' },
        local: { type: 'boolean' },
        stage: { type: 'string' },
        region: { type: 'string' },
        reason: { type: 'string' },
        compression: { type: 'string' },
        'target-url': { type: 'string' },
        jobs: { type: 'string' },
        out: { type: 'string' },
        write: { type: 'boolean' },
        apply: { type: 'boolean' },
        since: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
        verbose: { type: 'boolean', short: 'v' },
      },
    });
  } catch (error) {
    console.error(`${describeError(error)}\n\n${usage}`);
    return exitCodes.usage;
  }
  const { positionals } = parsed;
  const values = parsed.values as Values;
  const json = values.json === true;
  const out: Output = {
    json,
    print: (human, data) => console.log(json ? JSON.stringify(data, null, 2) : human),
  };
  const [name, target, ...rest] = positionals;
  if (values.help || !name) {
    console.log(usage);
    return name || values.help ? exitCodes.ok : exitCodes.usage;
  }
  const command = commands[name];
  if (!command) {
    console.error(`unknown command "${name}"\n\n${usage}`);
    return exitCodes.usage;
  }
  const stray = Object.keys(values).filter(
    (option) => !commonOptions.includes(option) && !command.options.includes(option),
  );
  if (stray.length > 0) {
    console.error(`${name} does not take ${stray.map((option) => `--${option}`).join(', ')}\n\n${usage}`);
    return exitCodes.usage;
  }
  if (rest.length > 0) {
    console.error(`unexpected arguments: ${rest.join(' ')}\n\n${usage}`);
    return exitCodes.usage;
  }
  try {
    // Flags and the stage's config are checked before anything starts or any AWS API is called.
    if (values.since !== undefined) parseSince(String(values.since));
    const place = placeOf(values, deps);
    return await command.run({ target, values, place, out, deps });
  } catch (error) {
    const errorName = error instanceof BackupError ? error.name : 'Error';
    const message = describeError(error);
    if (json) console.log(JSON.stringify({ error: errorName, message }, null, 2));
    else console.error(message);
    return exitCodeFor(error);
  }
}
