/**
 * `npm run install:qemu` (part of `npm test`): makes this machine run aarch64 programs, so the arm64
 * bundles test can execute what the default Lambda architecture ships.
 *
 * 1. `qemu-aarch64-static`: one already there is used as it is; as root on Debian, the
 *    `qemu-user-static` package is installed from Debian's archive (after an `apt-get update` when the
 *    package lists are missing or stale).
 * 2. The kernel's binfmt_misc handler for aarch64 ELF files, so that an aarch64 program started by
 *    another program (initdb starts `postgres` through a /bin/sh wrapper that execs the bundle's loader)
 *    runs under qemu too. Debian's package ships the registration line in
 *    /usr/lib/binfmt.d/qemu-aarch64.conf (flags OPF: F opens the interpreter now, so it also serves
 *    other mount namespaces and chroots); systemd-binfmt or update-binfmts write it at boot, neither of
 *    which runs in a container or a CI machine without systemd. So, as root: mount binfmt_misc when it
 *    is not mounted, and write that same line to its `register` file when no enabled aarch64 entry
 *    exists. Idempotent: a second run finds the entry and changes nothing.
 *
 * 3. An aarch64 system C and C++ runtime (Debian's `libc6:arm64` and `libstdc++6:arm64`, through
 *    dpkg's multiarch): the npm-built arm64 scratch server (PostgreSQL 16) uses the system's glibc and
 *    libstdc++, as on Amazon Linux, where the Debian-built bundles carry their own. qemu finds them at
 *    their usual paths (/lib/ld-linux-aarch64.so.1, /lib/aarch64-linux-gnu).
 *
 * Anywhere this cannot be done, the run fails saying what to do, rather than skipping the test. The
 * default Lambda architecture is arm64: its bundles must have run somewhere.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const qemuAarch64 = '/usr/bin/qemu-aarch64-static';
const binfmtDir = '/proc/sys/fs/binfmt_misc';
/** Debian's registration line (package qemu-user-static). */
const debianRegistration = '/usr/lib/binfmt.d/qemu-aarch64.conf';
/** The ELF header bytes binfmt_misc matches for aarch64, as its entries print them. */
const aarch64Magic = '7f454c460201010000000000000000000200b700';

function fail(message: string): never {
  console.error(message);
  process.exit(1);
}

function apt(...args: string[]): boolean {
  const result = spawnSync('apt-get', args, {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  return result.status === 0;
}

const isRoot = process.getuid?.() === 0;

if (!existsSync(qemuAarch64)) {
  if (!isRoot || !existsSync('/usr/bin/apt-get')) {
    fail(`The arm64 bundles test needs ${qemuAarch64}: install the Debian/Ubuntu package qemu-user-static.`);
  }
  console.error('Installing qemu-user-static from Debian for the arm64 bundles test...');
  const install = ['install', '-y', '--no-install-recommends', 'qemu-user-static'];
  if (!apt(...install) && !(apt('update') && apt(...install))) {
    fail('apt-get could not install qemu-user-static; see the messages above.');
  }
  if (!existsSync(qemuAarch64)) fail(`apt-get installed qemu-user-static, but ${qemuAarch64} is missing.`);
}

/** Whether an enabled binfmt_misc entry (any name: Debian's, Docker's, binfmt-support's) takes aarch64. */
function aarch64Registered(): boolean {
  if (!existsSync(join(binfmtDir, 'register'))) return false;
  if (readFileSync(join(binfmtDir, 'status'), 'utf8').trim() !== 'enabled') return false;
  return readdirSync(binfmtDir)
    .filter((name) => name !== 'register' && name !== 'status')
    .some((name) => {
      const entry = readFileSync(join(binfmtDir, name), 'utf8');
      return /^enabled$/m.test(entry) && entry.includes(`magic ${aarch64Magic}`);
    });
}

if (!aarch64Registered()) {
  const howTo = `as root: mount -t binfmt_misc binfmt_misc ${binfmtDir}; cat ${debianRegistration} > ${binfmtDir}/register`;
  if (!isRoot)
    fail(`The arm64 bundles test needs the kernel to run aarch64 programs through qemu (${howTo}).`);
  if (!existsSync(join(binfmtDir, 'register'))) {
    const mount = spawnSync('mount', ['-t', 'binfmt_misc', 'binfmt_misc', binfmtDir], {
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    if (mount.status !== 0) fail(`could not mount binfmt_misc at ${binfmtDir} (${howTo}).`);
  }
  if (readFileSync(join(binfmtDir, 'status'), 'utf8').trim() !== 'enabled')
    writeFileSync(join(binfmtDir, 'status'), '1');
  if (!existsSync(debianRegistration)) fail(`${debianRegistration} is missing: reinstall qemu-user-static.`);
  // An entry of that name that is disabled or points elsewhere is replaced by Debian's.
  if (existsSync(join(binfmtDir, 'qemu-aarch64'))) writeFileSync(join(binfmtDir, 'qemu-aarch64'), '-1');
  writeFileSync(join(binfmtDir, 'register'), readFileSync(debianRegistration, 'utf8').trim());
  if (!aarch64Registered())
    fail(`registering ${debianRegistration} with binfmt_misc had no effect (${howTo}).`);
  console.error('Registered qemu-aarch64 with binfmt_misc (Debian qemu-user-static).');
}

const aarch64Loader = '/lib/ld-linux-aarch64.so.1';
const aarch64Runtime = ['libc6:arm64', 'libstdc++6:arm64'];
if (!existsSync(aarch64Loader) || !existsSync('/usr/lib/aarch64-linux-gnu/libstdc++.so.6')) {
  if (!isRoot || !existsSync('/usr/bin/apt-get')) {
    fail(
      `The arm64 layers test needs an aarch64 C and C++ runtime: dpkg --add-architecture arm64; apt-get update; apt-get install ${aarch64Runtime.join(' ')}.`,
    );
  }
  console.error(`Installing ${aarch64Runtime.join(' ')} from Debian for the arm64 layers test...`);
  const addArch = spawnSync('dpkg', ['--add-architecture', 'arm64'], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const install = ['install', '-y', '--no-install-recommends', ...aarch64Runtime];
  if (addArch.status !== 0 || !(apt('update') && apt(...install))) {
    fail(`apt-get could not install ${aarch64Runtime.join(' ')}; see the messages above.`);
  }
}
