/**
 * backupctl's help: the overview, one page per command with examples, and a suggestion for a mistyped
 * command. Plain data and string work only: `--help`, `help <command>` and `--version` load nothing
 * else (no AWS SDK, no PostgreSQL client), so they answer at once.
 */

export interface CommandHelp {
  synopsis: string;
  /** One line for the overview, continued on the next ones when it is long. */
  summary: string[];
  details?: string[];
  examples: string[];
}

export const commandHelp: Record<string, CommandHelp> = {
  backup: {
    synopsis: 'backup [--reason TEXT] [--compression zstd:1] [--database NAME | --all-databases]',
    summary: ['run the backup state machine, printing each state'],
    details: [
      'Dumps production in an exported snapshot with counts and content checksums, promotes, checksums and',
      'verifies the backup on a scratch server. Exit 0 only when the backup is verified.',
      '--database backs up one database of the server; --all-databases runs the nightly run (the roles, then',
      'every database of DATABASES / databases.backup, each in its own execution) and prints one line each.',
    ],
    examples: [
      'npx backupctl backup --reason "before migration 42"',
      'npx backupctl backup --stage prod',
      'npx backupctl backup --stage prod --all-databases',
    ],
  },
  list: {
    synopsis: 'list',
    summary: ['backups with time, size, verified, SHA-256'],
    examples: ['npx backupctl list', 'npx backupctl list --stage prod --json'],
  },
  verify: {
    synopsis: 'verify <id|latest>',
    summary: ['re-hash the stored dump and read its archive'],
    examples: ['npx backupctl verify latest', 'npx backupctl verify 20261201T020000Z-a1b2c3 --stage prod'],
  },
  restore: {
    synopsis:
      'restore <id|latest> --target-url URL [--jobs N] [--with-roles] [--database NAME] [--target-not-production] [--allow-unverified] [--counts-only]',
    summary: [
      'restore on the worker into an opted-in database: checksum,',
      'production guard, pg_restore -j, counts and content checksums',
    ],
    details: [
      'The target database must have opted in (its owner runs',
      "COMMENT ON DATABASE <db> IS 'verified-pg-backups:restore-target'); production is refused. On a stage",
      'the URL travels as a secret of its own, never in the execution history.',
      "--with-roles (a new server): recreates the night's roles without passwords, restores with grants,",
      'gives every schema and relation its production owner and checks them (exit 3 if they differ).',
      '--target-not-production: your word that the target is another server, used only when the servers',
      'cannot tell (pg_control_system() not granted and production unreachable); never against evidence.',
      'The restored copy is compared like the nightly Verify: row counts and content checksums;',
      '--counts-only compares row counts alone (and says so). A backup that is not verified (no valid',
      'verification record, or a later check failed) is refused with the reason; --allow-unverified',
      'restores it anyway and prints why it is unverified.',
    ],
    examples: [
      'npx backupctl restore latest --target-url postgresql://owner@new-host:5432/app',
      'npx backupctl restore 20261201T020000Z-a1b2c3 --stage prod --target-url "$TARGET_URL" --jobs 4',
    ],
  },
  download: {
    synopsis: 'download <id|latest> [--out DIR]',
    summary: [
      'the dump (checked against its manifest) and the manifest,',
      'for a restore by hand with pg_restore',
    ],
    examples: ['npx backupctl download latest --out ./restore', 'npx backupctl download latest --stage prod'],
  },
  retention: {
    synopsis: 'retention [--apply]',
    summary: [
      'what the retention policy keeps (and why) and lets expire;',
      '--apply marks them as the daily pass does',
    ],
    examples: ['npx backupctl retention', 'npx backupctl retention --stage prod --json'],
  },
  status: {
    synopsis: 'status [--write] [--open [--out DIR]] [--link]',
    summary: [
      'backup status report (RPO, last failure, drill, trend);',
      '--write puts status.json, BACKUP_STATUS.md, badge.svg, index.html in the bucket',
    ],
    details: [
      '--open writes the status page (charts of 90 nights, no external requests) to',
      'DIR/backup-status-<stage>.html (DIR defaults to the current directory) and opens it on a desktop.',
      '--link writes the report to the bucket and prints a presigned link to its page, valid 1 hour:',
      'anyone holding the link can read the page until then.',
      'Exit 0 only when the newest verified backup is within the RPO.',
    ],
    examples: [
      'npx backupctl status',
      'npx backupctl status --open --out /tmp',
      'npx backupctl status --stage prod --link',
      'npx backupctl status --stage prod --json',
    ],
  },
  audit: {
    synopsis: 'audit [--since 30d]',
    summary: ['executions of both state machines: trigger, steps, causes'],
    examples: ['npx backupctl audit --since 7d', 'npx backupctl audit --stage prod --json'],
  },
  check: {
    synopsis: 'check [--send-test-alert]',
    summary: ['is the setup ready for its first night? one line per check, with the fix'],
    details: [
      'Production reachable with TLS, the role able to read every table and sequence in full, a client',
      'and a scratch server for its major with its extensions, the bucket and its key, where the dump and',
      "the verification will run for the database's size, Render's own backups when configured, and the",
      'alert channels (a test message only with --send-test-alert). Exit 0 only when no check failed.',
    ],
    examples: ['npx backupctl check', 'npx backupctl check --stage prod --send-test-alert'],
  },
  drill: {
    synopsis:
      'drill [id|latest] [--reason TEXT] [--database NAME | --all-databases] | drill --render --local',
    summary: ['restore drill into a fresh database, with evidence'],
    details: [
      'Restores onto a fresh scratch server, compares counts and content, runs the sanity checks and',
      'records the observed RTO and RPO under drills/.',
      "--render (local only): downloads Render's newest export through its signed link (streamed,",
      'SHA-256 recorded), restores it on a scratch server and compares its tables, row counts and',
      'extensions with our nearest verified backup; the record goes to provider/render/drills/.',
    ],
    examples: ['npx backupctl drill', 'npx backupctl drill latest --stage prod --reason "quarterly"'],
  },
};

const where = `Where: --local (default: local services, .local/ state) or --stage <stage> [--region R]
  (the stage deployed from config/<stage>.yml, with the default AWS credentials; verify and download
  run on this machine, restore on the stage's worker)
Options: --json (machine-readable output), --verbose (local runs: print each step's JSON log line;
  they are kept in .local/logs/steps.log either way), --help, --version
Exit codes: 0 ok, 1 failed, 2 usage or configuration error, 3 verification failed;
  130 Ctrl-C, 143 kill: a local run stopped where it was (audit lists it); with --stage, 130 only
  stopped following (the execution on AWS keeps running)`;

export function usageText(): string {
  const width = Math.max(...Object.values(commandHelp).map((c) => c.synopsis.length)) + 1;
  const lines = Object.values(commandHelp).flatMap((c) =>
    c.summary.map((text, i) => `  ${(i === 0 ? c.synopsis : '').padEnd(width)}${text}`),
  );
  return `Usage: backupctl <command> [options]    (backupctl help <command> for its page)

Commands:
${lines.join('\n')}

${where}`;
}

export function commandHelpText(name: string): string | undefined {
  const help = commandHelp[name];
  if (!help) return undefined;
  return [
    `Usage: backupctl ${help.synopsis} [--local | --stage <stage>] [--json]`,
    '',
    ...help.summary.map((line) => line.replace(/;$/, '')),
    ...(help.details ? ['', ...help.details] : []),
    '',
    'Examples:',
    ...help.examples.map((example) => `  ${example}`),
    '',
    where,
  ].join('\n');
}

/** The known command closest to a mistyped one (at most two edits away, or the one it starts). */
/** The candidate closest to `name`: a prefix of two characters or more, or within two edits. */
function closest(name: string, candidates: Iterable<string>): string | undefined {
  let best: { candidate: string; distance: number } | undefined;
  for (const candidate of candidates) {
    const distance = candidate.startsWith(name) && name.length >= 2 ? 0 : editDistance(name, candidate);
    if (distance <= 2 && (!best || distance < best.distance)) best = { candidate, distance };
  }
  return best?.candidate;
}

export function suggestCommand(name: string): string | undefined {
  return closest(name, Object.keys(commandHelp));
}

/** The option (without dashes) a mistyped `--name` meant, from `options`. */
export function suggestOption(name: string, options: Iterable<string>): string | undefined {
  return closest(name, options);
}

/** Edits between a and b, a swap of two neighbours counting as one (`josn` is one edit from `json`). */
function editDistance(a: string, b: string): number {
  const rows: number[][] = [Array.from({ length: b.length + 1 }, (_, j) => j)];
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      const above = rows[i - 1] ?? [];
      let best = Math.min((above[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, (above[j - 1] ?? 0) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        best = Math.min(best, (rows[i - 2]?.[j - 2] ?? 0) + 1);
      }
      row[j] = best;
    }
    rows.push(row);
  }
  return rows[a.length]?.[b.length] ?? 0;
}
