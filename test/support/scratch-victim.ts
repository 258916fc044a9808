/**
 * A process that starts a scratch server and waits, for the signal tests: it prints one JSON line
 * ({directory, socket, postmaster}) once the server accepts connections, then idles until a signal (or
 * a SIGKILL) ends it. `SCRATCH_WORK_DIR` says where the server goes.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { availableServerBundles } from '../../lib/pg/server-bundle.ts';
import { stopScratchServersOnSignals } from '../../lib/verify/scratch-registry.ts';
import { startScratchServer } from '../../lib/verify/scratch-server.ts';

stopScratchServersOnSignals();
const [bundle] = (await availableServerBundles()).slice(-1);
if (!bundle) throw new Error('no server bundle: npm run build:pg-server -- 18');
const server = await startScratchServer({ bundle, workDir: process.env.SCRATCH_WORK_DIR });
const postmaster = Number(
  (await readFile(join(server.directory, 'data', 'postmaster.pid'), 'utf8')).split('\n')[0],
);
process.stdout.write(
  `${JSON.stringify({ directory: server.directory, socket: server.connection.host, postmaster })}\n`,
);
// fixed-timer-allowed: keeps this process alive until a signal ends it; nothing waits on the timer.
setInterval(() => undefined, 60_000);
