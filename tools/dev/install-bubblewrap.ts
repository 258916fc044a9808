/**
 * `npm run install:bubblewrap` (part of `npm test`): makes sure the Lambda sandbox test
 * (test/integration/lambda-sandbox.test.ts) has `bwrap`, which runs the packaged function zips with
 * only the zip at /var/task, the layers under /opt, a read-only root and a writable /tmp. A `bwrap`
 * already there is used as it is; as root on Debian, the `bubblewrap` package is installed from
 * Debian's archive (after an `apt-get update` when the package lists are missing or stale), and
 * `tzdata` likewise when /usr/share/zoneinfo is missing (not for the sandbox, whose pg-server layer
 * carries its own, layers/pg-client/zoneinfo.ts, but for the scratch servers the other tests start from
 * the bundles under layers/pg-client/dist/, which read the host's). Anywhere else the run fails with what to do, rather than skipping the test. Then bwrap must be able to make
 * its namespaces here: a container that forbids them fails now, saying so, not in the middle of a test.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const bwrap = '/usr/bin/bwrap';

function apt(...args: string[]): boolean {
  const result = spawnSync('apt-get', args, {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  return result.status === 0;
}

// The host's time zone data, which Debian's PostgreSQL of the local bundles reads (a slim Debian
// container may lack the tzdata package).
const zoneinfo = '/usr/share/zoneinfo/UTC';
const missing = [...(existsSync(bwrap) ? [] : ['bubblewrap']), ...(existsSync(zoneinfo) ? [] : ['tzdata'])];
if (missing.length > 0) {
  if (process.getuid?.() !== 0 || !existsSync('/usr/bin/apt-get')) {
    console.error(
      `The Lambda sandbox test needs ${bwrap} and ${zoneinfo}: install the Debian/Ubuntu packages ${missing.join(' ')}.`,
    );
    process.exit(1);
  }
  console.error(`Installing ${missing.join(' ')} from Debian for the Lambda sandbox test...`);
  const install = ['install', '-y', '--no-install-recommends', ...missing];
  if (!apt(...install) && !(apt('update') && apt(...install))) {
    console.error(`apt-get could not install ${missing.join(' ')}; see the messages above.`);
    process.exit(1);
  }
  for (const path of [bwrap, zoneinfo]) {
    if (!existsSync(path)) {
      console.error(`apt-get installed ${missing.join(' ')}, but ${path} is missing.`);
      process.exit(1);
    }
  }
}

// The namespaces the test asks for: a new user, mount, pid, ipc, uts and network namespace.
const probe = spawnSync(bwrap, ['--ro-bind', '/', '/', '--unshare-all', '--uid', '993', 'true'], {
  encoding: 'utf8',
});
if (probe.status !== 0) {
  console.error(
    `bwrap cannot create its namespaces on this machine (${probe.stderr.trim() || `exit ${probe.status}`}). ` +
      'The Lambda sandbox test needs user and mount namespaces: run it on a host or container that allows them (docs/deploy.md).',
  );
  process.exit(1);
}
