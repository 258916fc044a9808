/**
 * The peer in the same run (`npm run bench -- --peer <dir>`): jameshy/pgdump-aws-lambda, a Lambda that
 * spawns pg_dump (`-Fc -Z1` plus its PGDUMP_ARGS) and streams its stdout to S3 with aws-sdk v2's
 * `s3.upload` (5 MiB parts, one in flight). It is not on npm and none of its code is kept here: whoever
 * runs the bench clones it and installs its dependencies from the registry (`peerSetupHint`), and the
 * worker loads its handler from that checkout (bench/worker.ts, task `peer`).
 *
 * Its pg_dump is ours: the peer runs `<PGDUMP_PATH>/pg_dump` and ships a 16.3 binary, which refuses the
 * bench's newer servers, so PGDUMP_PATH names a directory whose `pg_dump` starts the same bundled
 * pg_dump the dump step uses, through the bundle's loader. Both sides then run the same program and
 * differ only in what is around it.
 */
import { access, chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loaderPath, programPath } from '../lib/pg/client.ts';
import { pgProgramsFor } from '../lib/runtime.ts';

export const peerSetupHint =
  'git clone https://github.com/jameshy/pgdump-aws-lambda <dir> && (cd <dir> && npm install --omit=dev)';

/** Refuses a directory that is not a checkout of the peer with its dependencies installed. */
export async function checkPeerCheckout(dir: string): Promise<void> {
  const manifest = await readFile(join(dir, 'package.json'), 'utf8').catch(() => undefined);
  if (!manifest || (JSON.parse(manifest) as { name?: string }).name !== 'pgdump-aws-lambda') {
    throw new Error(`--peer ${dir} is not a checkout of jameshy/pgdump-aws-lambda: ${peerSetupHint}`);
  }
  for (const file of ['lib/handler.js', 'lib/pgdump.js', 'node_modules/aws-sdk/package.json']) {
    await access(join(dir, file)).catch(() => {
      throw new Error(`--peer ${dir} has no ${file}: ${peerSetupHint}`);
    });
  }
}

/** A directory whose `pg_dump` is the bundled pg_dump for `major`, started through the bundle's loader. */
export async function peerPgDumpDir(workDir: string, pgClientDir: string, major: number): Promise<string> {
  const bundle = await pgProgramsFor(pgClientDir).clientForServer(major * 10_000);
  const dir = join(workDir, 'peer-bin');
  await mkdir(dir, { recursive: true });
  const quote = (text: string) => `'${text.replace(/'/g, `'\\''`)}'`;
  const script = join(dir, 'pg_dump');
  await writeFile(
    script,
    `#!/bin/sh\nexec ${quote(loaderPath(bundle))} --library-path ${quote(join(bundle.dir, 'lib'))} ${quote(programPath(bundle, 'pg_dump'))} "$@"\n`,
  );
  await chmod(script, 0o755);
  return dir;
}
