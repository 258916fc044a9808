/**
 * A local run that is told to stop, for the signal tests: it starts the local environment (embedded
 * production PostgreSQL and the local S3 API) in `LOCAL_STATE_DIR`, prints `ready` once they serve,
 * then idles until a signal (or a SIGKILL) ends it.
 */
import { startLocalEnvironment } from '../../tools/local/environment.ts';

await startLocalEnvironment({
  stateDir: process.env.LOCAL_STATE_DIR ?? '',
  env: {},
  sampleScale: 0.01,
  need: { production: true, staging: false },
});
process.stdout.write('ready\n');
// fixed-timer-allowed: keeps this process alive until a signal ends it; nothing waits on the timer.
setInterval(() => undefined, 60_000);
