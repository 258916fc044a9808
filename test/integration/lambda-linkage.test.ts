/**
 * Every bundle that can ship loads on Lambda's nodejs22.x (Amazon Linux 2023, glibc 2.34), judged from
 * its ELF files (layers/pg-client/lambda-runtime.ts, docs/pg-client.md "Will it run on Lambda?"): the
 * clients 17 and 18 and the scratch servers of every major that has a source, for x86_64 and arm64, and
 * 18 with pgvector. Debian-built bundles take nothing from the image (their own loader and glibc); the
 * npm-built servers take glibc (no symbol newer than 2.25), libstdc++ and libgcc_s from it, and
 * nothing else. The checker itself is shown to catch what it is for, on real files: a Debian forky
 * program run directly (glibc 2.38 symbols, a library the image lacks), a library missing from a
 * bundle, and a symbol version the bundled library does not define.
 *
 * Builds what is missing (from the caches after the first time; the x86_64 servers are what `npm test`
 * builds anyway).
 */
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type BundleArch, buildPgClient, buildPgServer } from '../../layers/pg-client/builder.ts';
import { readElfLinkage } from '../../layers/pg-client/elf.ts';
import { buildEmbeddedServer } from '../../layers/pg-client/embedded-server.ts';
import { checkBundleLinkage, lambdaNodejs22, runtimeDefines } from '../../layers/pg-client/lambda-runtime.ts';
import {
  buildableServerMajors,
  type ServerMajor,
  serverBundleName,
  serverBundleSource,
} from '../../lib/pg/server-bundle.ts';

const archs: BundleArch[] = ['x86_64', 'arm64'];
/**
 * Every bundle that can ship, and how to get its directory. Debian-built ones are checked where the
 * builder caches them (`distDir: null`): publishing a client 17 into dist/ would change which client the
 * other tests' programs pick. The npm-built ones live in dist/ only (the x86_64 ones are `npm test`'s).
 */
const shipped: { name: string; build: () => Promise<string> }[] = [
  ...archs.flatMap((arch) =>
    ([17, 18] as const).map((major) => ({
      name: `pg-client-${major}-${arch}`,
      build: async () => (await buildPgClient({ major, arch, distDir: null })).bundleDir,
    })),
  ),
  ...archs.flatMap((arch) =>
    buildableServerMajors
      .filter((major) => serverBundleSource(major, arch))
      .map((major) => ({
        name: serverBundleName(major, arch),
        build: async () =>
          serverBundleSource(major, arch)?.from === 'npm'
            ? (await buildEmbeddedServer({ major, arch })).dir
            : (await buildPgServer({ major: major as ServerMajor, arch, distDir: null })).bundleDir,
      })),
  ),
  ...archs.map((arch) => ({
    name: serverBundleName(18, arch, ['pgvector']),
    build: async () =>
      (await buildPgServer({ major: 18, arch, extensions: ['pgvector'], distDir: null })).bundleDir,
  })),
];
const bundleDirs = new Map<string, string>();

let work: string;

beforeAll(async () => {
  for (const bundle of shipped) bundleDirs.set(bundle.name, await bundle.build());
  work = await mkdtemp(join(tmpdir(), 'lambda-linkage-'));
}, 900_000);

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe('every bundle that can ship loads on Lambda nodejs22.x', () => {
  it('covers both architectures, the clients and every server major with a source (14 arm64 has none)', () => {
    expect(shipped.map((b) => b.name).sort()).toEqual(
      [
        'pg-client-17-arm64',
        'pg-client-17-x86_64',
        'pg-client-18-arm64',
        'pg-client-18-x86_64',
        ...[13, 15, 16, 17, 18].map((major) => `pg-server-${major}-arm64`),
        ...[13, 14, 15, 16, 17, 18].map((major) => `pg-server-${major}-x86_64`),
        'pg-server-18-arm64-pgvector',
        'pg-server-18-x86_64-pgvector',
      ].sort(),
    );
  });

  it.each(shipped.map((b) => b.name))('%s', async (name) => {
    const linkage = await checkBundleLinkage(bundleDirs.get(name) ?? '');
    expect(linkage.problems).toEqual([]);
    expect(linkage.elfFiles).toBeGreaterThan(20);
    const fromImage = [...linkage.fromImage.keys()].sort();
    if (linkage.layout === 'debian') {
      expect(fromImage).toEqual([]);
      expect(linkage.newestGlibcFromImage).toBeUndefined();
    } else {
      // zonky's builds (Ubuntu 18.04): glibc symbols up to 2.25, ICU's C++ runtime from the image.
      expect(linkage.newestGlibcFromImage).toBe('GLIBC_2.25');
      expect(fromImage).toEqual(
        expect.arrayContaining(['libc.so.6', 'libm.so.6', 'libstdc++.so.6', 'libgcc_s.so.1']),
      );
      for (const soname of fromImage) expect(Object.keys(lambdaNodejs22.libraries)).toContain(soname);
    }
  });

  it('the npm-built servers offer no procedural language whose interpreter is missing', async () => {
    const embedded = shipped
      .map((b) => b.name)
      .filter((name) => /^pg-server-\d+-[a-z0-9_]+$/.test(name))
      .filter((name) => {
        const [, major, arch] = /^pg-server-(\d+)-(.+)$/.exec(name) ?? [];
        return serverBundleSource(Number(major), arch as BundleArch)?.from === 'npm';
      });
    expect(embedded.sort()).toEqual([
      'pg-server-13-x86_64',
      'pg-server-14-x86_64',
      'pg-server-16-arm64',
      'pg-server-16-x86_64',
    ]);
    for (const name of embedded) {
      const manifest = JSON.parse(
        await readFile(join(bundleDirs.get(name) ?? '', 'manifest.json'), 'utf8'),
      ) as {
        availableExtensions: string[];
        withdrawnExtensions?: string[];
      };
      expect(manifest.availableExtensions).toEqual(
        expect.arrayContaining(['plpgsql', 'pgcrypto', 'uuid-ossp', 'hstore']),
      );
      expect(manifest.availableExtensions.filter((e) => /pl(perl|python|tcl)/.test(e))).toEqual([]);
      expect(manifest.withdrawnExtensions).toEqual(
        expect.arrayContaining(['plperl', 'plperlu', 'plpython3u', 'pltcl', 'pltclu', 'jsonb_plperl']),
      );
    }
  });
});

describe('the check catches what would not load', () => {
  it('versions: what glibc 2.34, libstdc++ 11 and libgcc 11 define, and what they cannot', () => {
    const defines = (library: string, version: string) => runtimeDefines(lambdaNodejs22, library, version);
    expect(defines('libc.so.6', 'GLIBC_2.34')).toBe(true);
    expect(defines('libc.so.6', 'GLIBC_2.2.5')).toBe(true);
    expect(defines('libc.so.6', 'GLIBC_2.35')).toBe(false);
    expect(defines('libc.so.6', 'GLIBC_2.38')).toBe(false);
    expect(defines('libc.so.6', 'GLIBC_PRIVATE')).toBe(false);
    expect(defines('libc.so.6', 'GLIBC_ABI_DT_RELR')).toBe(false);
    expect(defines('libstdc++.so.6', 'GLIBCXX_3.4.29')).toBe(true);
    expect(defines('libstdc++.so.6', 'GLIBCXX_3.4.30')).toBe(false);
    expect(defines('libstdc++.so.6', 'CXXABI_1.3.13')).toBe(true);
    expect(defines('libstdc++.so.6', 'CXXABI_1.3.14')).toBe(false);
    expect(defines('libgcc_s.so.1', 'GCC_7.0.0')).toBe(true);
    expect(defines('libgcc_s.so.1', 'GCC_12.0.0')).toBe(false);
    expect(defines('libssl.so.3', 'OPENSSL_3.0.0')).toBe(false);
  });

  it('reads what a forky pg_dump needs of glibc, and what its glibc defines', async () => {
    const client = join(bundleDirs.get('pg-client-18-x86_64') ?? '');
    const pgDump = readElfLinkage(await readFile(join(client, 'bin', 'pg_dump')));
    expect(pgDump.needed).toEqual(expect.arrayContaining(['libpq.so.5', 'libz.so.1', 'libc.so.6']));
    expect(pgDump.versionsNeeded.get('libc.so.6')).toEqual(expect.arrayContaining(['GLIBC_2.38']));
    expect(pgDump.versionsNeeded.get('libcrypto.so.3')).toEqual(['OPENSSL_3.0.0']);
    expect(pgDump.runpath).toEqual([]);
    const libc = readElfLinkage(await readFile(join(client, 'lib', 'libc.so.6')));
    expect(libc.soname).toBe('libc.so.6');
    expect(libc.versionsDefined).toEqual(
      expect.arrayContaining(['GLIBC_2.2.5', 'GLIBC_2.38', 'GLIBC_PRIVATE']),
    );
  });

  it('a Debian forky program run directly on the image: glibc 2.38 symbols and libraries the image lacks', async () => {
    const bundle = join(work, 'direct');
    await mkdir(join(bundle, 'bin'), { recursive: true });
    await cp(
      join(bundleDirs.get('pg-client-18-x86_64') ?? '', 'bin', 'pg_dump'),
      join(bundle, 'bin', 'pg_dump'),
    );
    await writeFile(join(bundle, 'manifest.json'), JSON.stringify({ kind: 'server', layout: 'embedded' }));
    const linkage = await checkBundleLinkage(bundle);
    expect(linkage.failing).toEqual(new Set(['bin/pg_dump']));
    expect(linkage.problems).toEqual(
      expect.arrayContaining([
        'bin/pg_dump: needs libpq.so.5, which neither the bundle nor Lambda nodejs22.x (Amazon Linux 2023) has',
        'bin/pg_dump: needs GLIBC_2.38 of libc.so.6, newer than Lambda nodejs22.x (Amazon Linux 2023) has (glibc 2.34)',
      ]),
    );
  });

  it('a Debian-built bundle missing a library, or whose library lacks a version a program needs', async () => {
    const bundle = join(work, 'client');
    await cp(join(bundleDirs.get('pg-client-18-x86_64') ?? ''), bundle, {
      recursive: true,
      dereference: true,
    });
    await rm(join(bundle, 'lib', 'libz.so.1'));
    // A libcrypto that defines no symbol versions: pg_dump's OPENSSL_3.0.0 goes unmet.
    await rm(join(bundle, 'lib', 'libcrypto.so.3'));
    await cp(join(bundle, 'lib', 'libcom_err.so.2'), join(bundle, 'lib', 'libcrypto.so.3'));
    const linkage = await checkBundleLinkage(bundle);
    expect(linkage.problems).toEqual(
      expect.arrayContaining([
        "bin/pg_dump: needs libz.so.1, which is not in the bundle's lib/ (a Debian-built bundle takes nothing from the image)",
        "bin/pg_dump: needs OPENSSL_3.0.0 of libcrypto.so.3, which the bundle's lib/libcrypto.so.3 does not define",
      ]),
    );
  });
});
