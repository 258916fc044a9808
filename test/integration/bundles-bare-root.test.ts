/**
 * The bundles run without the host's libraries: each x86_64 scratch-server bundle (13-18) and the
 * client 18 run in a bubblewrap sandbox whose root holds only the two bundles (at /opt), the project's
 * code and Node (read-only), a /bin/sh, the host's time zone data, and of the host's libraries only
 * those Lambda's nodejs22.x image has and a bundle may take from it (layers/pg-client/lambda-runtime.ts:
 * the loader, libc, libm, libpthread, libdl, librt, libresolv, libutil, libgcc_s, libstdc++), no
 * /etc/ld.so.cache, no network, uid 993. In it the product's own code (test/support/bare-root-probe.ts)
 * starts the scratch server (initdb, postgres), loads ICU and pgcrypto in it, dumps with the client's
 * pg_dump and restores with its pg_restore.
 *
 * What this proves: no bundle needs a library of the host beyond that set (a missing one fails the
 * run), and the Debian-built ones none at all besides /bin/sh's. That set is Debian bookworm's (glibc
 * 2.36, libstdc++ 12), newer than Amazon Linux 2023's 2.34 and 11; so the npm-built servers (13, 14,
 * 16), the ones that use the system's glibc, also run postgres, pg_dump and pg_restore with Debian
 * bullseye's glibc 2.31 and libstdc++ 10 as the root's system libraries, older than Lambda's on both
 * counts. Not shown: Lambda's kernel, its /bin/sh, arm64 (the ELF check covers those bundles:
 * test/integration/lambda-linkage.test.ts).
 */
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { buildPgServer } from '../../layers/pg-client/builder.ts';
import { lambdaNodejs22 } from '../../layers/pg-client/lambda-runtime.ts';
import { buildableServerMajors, serverBundleName, serverBundleSource } from '../../lib/pg/server-bundle.ts';
import { bwrap, projectNode } from '../support/lambda-sandbox.ts';

const projectRoot = join(import.meta.dirname, '..', '..');
const dist = join(projectRoot, 'layers', 'pg-client', 'dist');
const hostLibDir = '/usr/lib/x86_64-linux-gnu';
const loader = 'ld-linux-x86-64.so.2';
/** The image's libraries as the host has them (bookworm), by soname. */
const imageLibraries = Object.keys(lambdaNodejs22.libraries).filter(
  (soname) => soname !== 'ld-linux-aarch64.so.1' && soname !== loader,
);
const measured: Record<string, number> = {};
let etc: string;

beforeAll(() => {
  etc = mkdtempSync(join(tmpdir(), 'bare-root-'));
  writeFileSync(
    join(etc, 'passwd'),
    'root:x:0:0:root:/root:/sbin/nologin\nsbx_user1051:x:993:990::/tmp:/sbin/nologin\n',
  );
  writeFileSync(join(etc, 'group'), 'root:x:0:\nsbx_user1051:x:990:\n');
});

afterAll(() => {
  if (etc) rmSync(etc, { recursive: true, force: true });
  console.log(`bundles in a bare root: ${JSON.stringify(measured)}`);
});

interface Root {
  /** Where the system libraries come from, and which (by soname); the loader among them. */
  libraries: { dir: string; sonames: string[]; loader: string };
  /** /bin/sh (the host's dash): initdb needs it, and it needs the host's glibc. */
  shell: boolean;
  /** A host directory writable inside as /scratch, kept between two runs. */
  work?: string;
}

const hostRoot: Root = {
  libraries: { dir: hostLibDir, sonames: imageLibraries, loader: realpathSync(join('/lib64', loader)) },
  shell: true,
};

function runInBareRoot(
  serverDir: string,
  clientDir: string,
  root: Root = hostRoot,
  probeArgs: string[] = [],
) {
  const args = [
    '--unshare-all',
    '--die-with-parent',
    '--new-session',
    '--uid',
    '993',
    '--gid',
    '990',
    ...root.libraries.sonames.flatMap((soname) => [
      '--ro-bind',
      realpathSync(join(root.libraries.dir, soname)),
      join('/usr/lib/x86_64-linux-gnu', soname),
    ]),
    '--ro-bind',
    root.libraries.loader,
    join('/usr/lib64', loader),
    '--symlink',
    'usr/lib',
    '/lib',
    '--symlink',
    'usr/lib64',
    '/lib64',
    ...(root.shell
      ? ['--ro-bind', realpathSync('/bin/sh'), '/usr/bin/sh', '--symlink', 'usr/bin', '/bin']
      : []),
    '--ro-bind',
    '/usr/share/zoneinfo',
    '/usr/share/zoneinfo',
    '--ro-bind',
    projectNode(),
    '/var/lang/bin/node',
    '--ro-bind',
    projectRoot,
    projectRoot,
    '--ro-bind',
    realpathSync(serverDir),
    '/opt/pg-server',
    '--ro-bind',
    realpathSync(clientDir),
    '/opt/pg-client',
    '--ro-bind',
    join(etc, 'passwd'),
    '/etc/passwd',
    '--ro-bind',
    join(etc, 'group'),
    '/etc/group',
    ...(root.work ? ['--bind', root.work, '/scratch'] : []),
    '--tmpfs',
    '/tmp',
    '--proc',
    '/proc',
    '--dev',
    '/dev',
    '--chdir',
    '/tmp',
    '--remount-ro',
    '/',
    '/var/lang/bin/node',
    join(projectRoot, 'test', 'support', 'bare-root-probe.ts'),
    '/opt/pg-server',
    '/opt/pg-client',
    ...probeArgs,
  ];
  return new Promise<{ code: number | null; stdout: string; stderr: string; seconds: number }>(
    (resolve, reject) => {
      const started = Date.now();
      const child = spawn(bwrap, args, { env: { PATH: '/var/lang/bin:/usr/bin:/bin' } });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
      });
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
      });
      child.once('error', reject);
      child.once('close', (code) =>
        resolve({ code, stdout, stderr, seconds: (Date.now() - started) / 1000 }),
      );
    },
  );
}

describe('bundles in a root without the host libraries', () => {
  it('the root offers only what Lambda nodejs22.x has', () => {
    expect(existsSync(bwrap)).toBe(true);
    for (const soname of [...imageLibraries, loader])
      expect(existsSync(join(soname === loader ? '/lib64' : hostLibDir, soname))).toBe(true);
  });

  it.each(buildableServerMajors.map((major) => [major]))(
    'PostgreSQL %i: initdb, postgres with ICU and pgcrypto, pg_dump and pg_restore 18',
    async (major) => {
      const run = await runInBareRoot(
        join(dist, serverBundleName(major, 'x86_64')),
        join(dist, 'pg-client-18-x86_64'),
      );
      measured[`pg${major}Seconds`] = run.seconds;
      expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
      const seen = JSON.parse(run.stdout.trim().split('\n').pop() ?? '{}') as Record<string, unknown>;
      expect(seen).toEqual({
        major,
        systemLibraries: [
          ...imageLibraries.map((soname) => `/usr/lib/x86_64-linux-gnu/${soname}`).sort(),
          `/usr/lib64/${loader}`,
        ],
        // pg_restore 18 sets transaction_timeout, which servers before 17 reject once.
        restoreExit: major < 17 ? 1 : 0,
        restoreErrors:
          major < 17
            ? [
                'pg_restore: error: could not execute query: ERROR:  unrecognized configuration parameter "transaction_timeout"',
                'pg_restore: warning: errors ignored on restore: 1',
              ]
            : [],
        count: '1000',
        // ICU's German order ('apfel10' before 'Äpfel100'); C's would start with 'Ober103'.
        first: 'apfel10',
        digest: '26fc3cc1efca85762352d3470ca12cbf23a106d95cd15956ab46cfb602165e9d',
        version: expect.stringMatching(new RegExp(`^${major}\\.\\d+`)),
      });
    },
    180_000,
  );
});

/** The majors whose x86_64 scratch server is an npm build: run with the image's glibc, not their own. */
const npmMajors = buildableServerMajors.filter(
  (major) => serverBundleSource(major, 'x86_64')?.from === 'npm',
);

describe("the npm-built servers on a glibc and libstdc++ older than Amazon Linux 2023's", () => {
  // Debian bullseye's glibc 2.31 and GCC 10 runtime (libstdc++ GLIBCXX_3.4.28), from Debian's signed
  // archive through the builder (the PostgreSQL 13 server bundle carries them), as the root's system
  // libraries. Lambda's are 2.34 and GCC 11: whatever runs on these runs on those (glibc and libstdc++
  // keep old symbol versions). No /bin/sh there (the host's needs glibc 2.34), so initdb runs first in
  // the host-library root, and postgres, pg_dump and pg_restore then run on bullseye's.
  let bullseye: Root;
  let versions: Record<string, string>;

  beforeAll(async () => {
    const built = await buildPgServer({ major: 13, arch: 'x86_64', distDir: null });
    const lib = join(built.bundleDir, 'lib');
    versions = Object.fromEntries(built.manifest.packages.map((p) => [p.name, p.version]));
    bullseye = {
      libraries: {
        dir: lib,
        sonames: imageLibraries.filter((soname) => existsSync(join(lib, soname))),
        loader: realpathSync(join(lib, loader)),
      },
      shell: false,
    };
  }, 900_000);

  it("the root has bullseye's glibc 2.31 and libstdc++ 6.0.28", () => {
    expect(bullseye.libraries.sonames).toEqual(
      expect.arrayContaining([
        'libc.so.6',
        'libm.so.6',
        'libstdc++.so.6',
        'libgcc_s.so.1',
        'libpthread.so.0',
      ]),
    );
    expect(versions.libc6).toMatch(/^2\.31-/);
    expect(versions['libstdc++6']).toMatch(/^10\./);
    expect(versions['libgcc-s1']).toMatch(/^10\./);
  });

  it.each(npmMajors.map((major) => [major]))(
    'PostgreSQL %i: postgres with ICU and pgcrypto, pg_dump and pg_restore 18, on glibc 2.31',
    async (major) => {
      const work = mkdtempSync(join(tmpdir(), 'bare-root-work-'));
      try {
        chmodSync(work, 0o777);
        const server = join(dist, serverBundleName(major, 'x86_64'));
        const client = join(dist, 'pg-client-18-x86_64');
        const initdb = await runInBareRoot(server, client, { ...hostRoot, work }, ['initdb', '/scratch']);
        expect({ code: initdb.code, stderr: initdb.stderr }).toEqual({ code: 0, stderr: '' });
        const run = await runInBareRoot(server, client, { ...bullseye, work }, ['existing', '/scratch']);
        measured[`pg${major}OnGlibc231Seconds`] = run.seconds;
        expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
        const seen = JSON.parse(run.stdout.trim().split('\n').pop() ?? '{}') as Record<string, unknown>;
        expect(seen).toEqual({
          major,
          systemLibraries: [
            ...bullseye.libraries.sonames.map((soname) => `/usr/lib/x86_64-linux-gnu/${soname}`).sort(),
            `/usr/lib64/${loader}`,
          ],
          restoreExit: 1,
          restoreErrors: [
            'pg_restore: error: could not execute query: ERROR:  unrecognized configuration parameter "transaction_timeout"',
            'pg_restore: warning: errors ignored on restore: 1',
          ],
          count: '1000',
          first: 'apfel10',
          digest: '26fc3cc1efca85762352d3470ca12cbf23a106d95cd15956ab46cfb602165e9d',
          version: expect.stringMatching(new RegExp(`^${major}\\.\\d+`)),
        });
      } finally {
        rmSync(work, { recursive: true, force: true });
      }
    },
    180_000,
  );
});
