/**
 * `npm run install:chromium` (part of `npm test`): makes sure the browser test has a Chromium. One
 * already there is used as it is; as root on Debian, the `chromium` package is installed from Debian's
 * archive (after an `apt-get update` when the package lists are missing or stale). Anywhere else the
 * run fails with what to do, rather than skipping the test.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { findChromium } from './chromium.ts';

function apt(...args: string[]): boolean {
  const result = spawnSync('apt-get', args, {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  return result.status === 0;
}

const found = findChromium();
if (found) {
  process.exit(0);
}
if (process.getuid?.() !== 0 || !existsSync('/usr/bin/apt-get')) {
  console.error(
    'The status page test needs Chromium: install Debian/Ubuntu package `chromium` (or any Chromium) and ' +
      'set CHROMIUM_PATH to its binary if it is not /usr/bin/chromium.',
  );
  process.exit(1);
}
console.error('Installing Chromium from Debian for the status page test (apt-get install chromium)...');
const install = ['install', '-y', '--no-install-recommends', 'chromium'];
if (!apt(...install) && !(apt('update') && apt(...install))) {
  console.error('apt-get could not install chromium; see the messages above.');
  process.exit(1);
}
if (!findChromium()) {
  console.error('apt-get installed chromium, but no binary is at /usr/bin/chromium.');
  process.exit(1);
}
