/**
 * `npm run demo`: one verified backup on this machine, with real PostgreSQL servers, a real S3 API and
 * the real state machine. Exits 0 only when the backup is verified.
 */
import { describeError } from '../../lib/errors.ts';
import { defaultOf } from '../../lib/settings.ts';
import { startLocalEnvironment } from './environment.ts';
import { runLocalBackup } from './run-backup.ts';
import { formatStateLine } from './state-lines.ts';

async function main(): Promise<number> {
  const started = Date.now();
  console.log(
    'Starting local services (embedded PostgreSQL for production, local S3 API); Verify runs on the local worker and starts its own scratch server…',
  );
  // As a deployed stage does by default: Verify on the worker (here a child process).
  const environment = await startLocalEnvironment({
    verifyVenue: defaultOf('VERIFY_VENUE'),
    onProgress: (message) => console.log(`  ${message}`),
  });
  try {
    console.log(`State directory: ${environment.stateDir}\n`);
    console.log('Running statemachines/backup.asl.json:');
    const execution = await runLocalBackup(
      environment,
      { trigger: 'manual', reason: 'npm run demo' },
      { onState: (state) => console.log(`  ${formatStateLine('backup', state)}`) },
    );
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    if (execution.status === 'SUCCEEDED') {
      const output = execution.output as { dump: { backupId: string; sha256: string } };
      console.log(
        `\nBackup ${output.dump.backupId} is VERIFIED (sha256 ${output.dump.sha256}) in ${seconds} s.`,
      );
      console.log('Next: `npx backupctl list`, `npx backupctl status`, `npx backupctl verify latest`.');
      return 0;
    }
    console.log(`\nBackup FAILED: ${execution.error?.name}: ${execution.error?.cause}`);
    return 1;
  } finally {
    await environment.stop();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`demo failed: ${describeError(error)}`);
    process.exit(1);
  },
);
