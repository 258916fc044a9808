#!/usr/bin/env node
// Runs the TypeScript CLI with Node 22's built-in type stripping. The project pins Node 22 through the
// `node` package (every `npm run` and `npx backupctl` uses it); started by an older Node (a machine's
// system Node 20, or this file run directly), it hands over to that pinned Node rather than crash on
// the first `.ts` import. Plain JavaScript, no static import of TypeScript: this file must parse there.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { constants } from 'node:os';
import { fileURLToPath } from 'node:url';

const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
// Type stripping is on by default from Node 22.18.
if (major < 22 || (major === 22 && minor < 18)) {
  const pinned = fileURLToPath(new URL('../node_modules/node/bin/node', import.meta.url));
  if (!existsSync(pinned)) {
    console.error(
      `backupctl needs Node.js 22.18 or newer (this is ${process.version}): run \`npm ci\` in the project, which installs Node 22 for it, or install Node 22`,
    );
    process.exit(2);
  }
  const child = spawn(pinned, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: 'inherit',
  });
  // kill -TERM <pid> reaches the run that does the work. Ctrl-C already reaches it from the terminal
  // (one process group): forwarding SIGINT too would be its second signal, which exits at once.
  for (const signal of ['SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal));
  process.on('SIGINT', () => undefined);
  child.on('exit', (code, signal) => {
    process.exit(code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 1));
  });
} else {
  const { main } = await import('../tools/cli/main.ts');
  process.exitCode = await main(process.argv.slice(2));
}
