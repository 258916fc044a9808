/**
 * `npm run install:qemu` (part of `npm test`): makes sure the arm64 bundles test can run aarch64
 * programs on this machine. A `qemu-aarch64-static` already there is used as it is; as root on Debian,
 * the `qemu-user-static` package is installed from Debian's archive (after an `apt-get update` when the
 * package lists are missing or stale). Anywhere else the run fails with what to do, rather than
 * skipping the test. The default Lambda architecture is arm64: its bundles must have run somewhere.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const qemuAarch64 = '/usr/bin/qemu-aarch64-static';

function apt(...args: string[]): boolean {
  const result = spawnSync('apt-get', args, {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  return result.status === 0;
}

if (!existsSync(qemuAarch64)) {
  if (process.getuid?.() !== 0 || !existsSync('/usr/bin/apt-get')) {
    console.error(
      `The arm64 bundles test needs ${qemuAarch64}: install the Debian/Ubuntu package qemu-user-static.`,
    );
    process.exit(1);
  }
  console.error('Installing qemu-user-static from Debian for the arm64 bundles test...');
  const install = ['install', '-y', '--no-install-recommends', 'qemu-user-static'];
  if (!apt(...install) && !(apt('update') && apt(...install))) {
    console.error('apt-get could not install qemu-user-static; see the messages above.');
    process.exit(1);
  }
  if (!existsSync(qemuAarch64)) {
    console.error(`apt-get installed qemu-user-static, but ${qemuAarch64} is missing.`);
    process.exit(1);
  }
}
