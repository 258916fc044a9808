/**
 * `npm run build:pg-client [-- --major 17|18] [--arch x86_64|arm64]`: builds the PostgreSQL client
 * bundle and its Lambda layer zip into layers/pg-client/dist/ (see docs/pg-client.md).
 */
import { parseArgs } from 'node:util';
import { describeError } from '../../lib/errors.ts';
import {
  type BundleArch,
  buildPgClient,
  bundleArchs,
  type ClientMajor,
  hostBundleArch,
  newestMajor,
  programVersions,
  supportedMajors,
} from './builder.ts';

function usage(message: string): never {
  console.error(
    `${message}\nusage: npm run build:pg-client -- [--major ${supportedMajors.join('|')}] [--arch ${bundleArchs.join('|')}]`,
  );
  process.exit(2);
}

async function main() {
  let values: { major?: string | undefined; arch?: string | undefined };
  try {
    ({ values } = parseArgs({
      options: { major: { type: 'string' }, arch: { type: 'string' } },
      strict: true,
    }));
  } catch (error) {
    usage(describeError(error));
  }
  const major = Number(values.major ?? newestMajor);
  if (!supportedMajors.includes(major as ClientMajor))
    usage(`--major must be one of ${supportedMajors.join(', ')}`);
  const arch = values.arch ?? hostBundleArch();
  if (!bundleArchs.includes(arch as BundleArch)) usage(`--arch must be one of ${bundleArchs.join(', ')}`);

  const started = Date.now();
  const result = await buildPgClient({
    major: major as ClientMajor,
    arch: arch as BundleArch,
    log: (line) => console.log(line),
  });
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  const unzipped = result.manifest.files.reduce((sum, file) => sum + file.size, 0);
  const { size: zipped } = await import('node:fs/promises').then((fs) => fs.stat(result.zipPath));
  const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;

  console.log(
    `PostgreSQL ${result.manifest.clientVersion} client for ${arch} from Debian ${result.manifest.suite} ` +
      `(${result.cached ? 'cached' : 'built'} in ${seconds} s)`,
  );
  console.log(`  bundle: ${result.distBundleDir ?? result.bundleDir} (${mb(unzipped)} unzipped)`);
  console.log(`  layer:  ${result.distZipPath ?? result.zipPath} (${mb(zipped)})`);
  if (arch === hostBundleArch()) {
    for (const [program, version] of Object.entries(
      await programVersions(result.bundleDir, arch as BundleArch),
    )) {
      console.log(`  ${program.padEnd(10)} ${version}`);
    }
  } else {
    console.log(`  (${arch} programs cannot run on this ${hostBundleArch()} machine)`);
  }
}

main().catch((error: unknown) => {
  console.error(`build:pg-client failed: ${describeError(error)}`);
  if (error instanceof Error && error.cause !== undefined)
    console.error(`  cause: ${describeError(error.cause)}`);
  process.exit(1);
});
