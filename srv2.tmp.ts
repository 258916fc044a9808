import { existsSync } from 'node:fs';
import { availableServerBundles, serverForSource } from './lib/pg/server-bundle.ts';
import { withSession } from './lib/pg/session.ts';
import { startScratchServer } from './lib/verify/scratch-server.ts';

const bundles = await availableServerBundles();
console.log(bundles.map((b) => `${b.major} ${b.dir}`));
const t = Date.now();
const server = await startScratchServer({
  bundle: serverForSource(160004, bundles),
  workDir: '/work/main/.local/tmp',
  requiredBytes: 1e9,
});
console.log('started in', Date.now() - t, 'ms', server.version, server.directory);
console.log(
  await withSession(
    server.connection,
    async (s) => (await s.query("select version(), current_setting('shared_buffers') sb")).rows,
  ),
);
const t2 = Date.now();
await server.stop();
console.log(
  'stopped in',
  Date.now() - t2,
  'ms; dir left:',
  existsSync(server.directory),
  existsSync(server.connection.host),
);
