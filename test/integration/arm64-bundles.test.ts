/**
 * The default Lambda architecture is arm64, so the arm64 bundles are what ships: their programs run
 * here under qemu-user (`npm run install:qemu` installs Debian's qemu-user-static), through the
 * bundle's own loader and libraries exactly as lib/pg/process.ts starts them on Lambda. Builds the
 * bundles config/test.yml packages when missing (from the cache after the first time).
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from '@jest/globals';

/** Debian's qemu-user-static (tools/dev/install-qemu.ts installs it). */
const qemuAarch64 = '/usr/bin/qemu-aarch64-static';

const root = join(import.meta.dirname, '..', '..');
const dist = join(root, 'layers/pg-client/dist');
const client = join(dist, 'pg-client-18-arm64');
const server = join(dist, 'pg-server-18-arm64-pgvector');

function build(args: string[]): void {
  const result = spawnSync(process.execPath, [join(root, 'layers/pg-client/build.ts'), ...args], {
    cwd: root,
    encoding: 'utf8',
    timeout: 900_000,
  });
  if (result.status !== 0)
    throw new Error(`building ${args.join(' ')} failed:\n${result.stdout}\n${result.stderr}`);
}

/** `<bundle>/lib/<loader> --library-path <bundle>/lib <program> args`, under qemu. */
function runArm64(bundle: string, program: string, args: string[]) {
  const lib = join(bundle, 'lib');
  return spawnSync(
    qemuAarch64,
    [join(lib, 'ld-linux-aarch64.so.1'), '--library-path', lib, join(bundle, program), ...args],
    {
      encoding: 'utf8',
      env: {},
      timeout: 120_000,
    },
  );
}

beforeAll(() => {
  build(['--major', '18', '--arch', 'arm64']);
  build(['--server', '18', '--arch', 'arm64', '--extensions', 'pgvector']);
}, 900_000);

describe('arm64 bundles under qemu-user', () => {
  it.each(['pg_dump', 'pg_restore', 'psql'])('runs the client bundle’s %s', (program) => {
    const result = runArm64(client, `bin/${program}`, ['--version']);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(new RegExp(`^${program} \\(PostgreSQL\\) 18\\.\\d+`));
  });

  it.each([
    ['postgres', 'usr/lib/postgresql/18/bin/postgres'],
    ['initdb', 'libexec/initdb'],
  ])('runs the scratch server bundle’s %s', (name, program) => {
    const result = runArm64(server, program, ['--version']);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(new RegExp(`^${name} \\(PostgreSQL\\) 18\\.\\d+`));
  });
});
