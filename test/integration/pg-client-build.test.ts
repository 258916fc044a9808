/**
 * The pg-client builder against Debian's real archive: the arm64 bundle, the cache, and the refusal of
 * a tampered package.
 */

import { X509Certificate } from 'node:crypto';
import { mkdir, mkdtemp, open, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { buildPgClient, defaultArchiveUrl, hostBundleArch } from '../../layers/pg-client/builder.ts';
import { PgClientBuildError } from '../../lib/errors.ts';

const aarch64 = 183;

async function walk(dir: string, prefix = ''): Promise<string[]> {
  const paths: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) paths.push(...(await walk(join(dir, entry.name), path)));
    else paths.push(path);
  }
  return paths.sort();
}

/** e_machine of an ELF file, read from its header; undefined for anything that is not ELF. */
async function elfMachine(path: string): Promise<number | undefined> {
  const file = await open(path);
  try {
    const header = Buffer.alloc(20);
    await file.read(header, 0, 20, 0);
    if (header.readUInt32BE(0) !== 0x7f454c46) return undefined;
    return header.readUInt16LE(18);
  } finally {
    await file.close();
  }
}

async function snapshot(dir: string): Promise<string[]> {
  const paths = await walk(dir);
  return Promise.all(
    paths.map(async (path) => {
      const info = await stat(join(dir, path));
      return `${path} ${info.size} ${info.mtimeMs}`;
    }),
  );
}

describe('buildPgClient()', () => {
  it('assembles an arm64 bundle whose every binary and library is aarch64, loader included', async () => {
    // Act
    const result = await buildPgClient({ arch: 'arm64', major: 18 });

    // Assess
    const files = await walk(result.bundleDir);
    expect(files).toEqual(
      expect.arrayContaining([
        'bin/pg_dump',
        'bin/pg_restore',
        'bin/psql',
        'libexec/pg_dumpall',
        'libexec/pg_dump',
        'lib/ld-linux-aarch64.so.1',
        'lib/libc.so.6',
        'lib/libpq.so.5',
        'share/ca-certificates.crt',
        'manifest.json',
      ]),
    );
    const executables = files.filter((path) => path.startsWith('bin/') || path.startsWith('lib/'));
    const machines = await Promise.all(executables.map((path) => elfMachine(join(result.bundleDir, path))));
    expect(Object.fromEntries(executables.map((path, i) => [path, machines[i]]))).toEqual(
      Object.fromEntries(executables.map((path) => [path, aarch64])),
    );
    expect(await elfMachine(join(result.bundleDir, 'libexec/pg_dumpall'))).toBe(aarch64);
    expect(result.manifest).toMatchObject({ arch: 'arm64', debianArch: 'arm64', major: 18, suite: 'forky' });
    expect((await stat(result.zipPath)).size).toBeGreaterThan(1_000_000);
  });

  it('ships a CA file that parses as the Mozilla roots for verify-full TLS', async () => {
    const result = await buildPgClient();

    const pem = await readFile(join(result.bundleDir, 'share/ca-certificates.crt'), 'utf8');
    const certificates = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];

    expect(certificates.length).toBeGreaterThan(100);
    for (const certificate of certificates) expect(new X509Certificate(certificate).ca).toBe(true);
  });

  it('downloads nothing but InRelease when the cache already holds the bundle', async () => {
    // Prepare
    await buildPgClient();
    const requested: string[] = [];

    // Act
    const result = await buildPgClient({
      fetch: (url) => {
        requested.push(url);
        return fetch(url);
      },
    });

    // Assess
    expect(result.cached).toBe(true);
    expect(requested).toEqual([`${defaultArchiveUrl}/dists/forky/InRelease`]);
  });

  describe('given a mirror that serves a tampered libpq5', () => {
    let mirror: Server;
    let mirrorUrl: string;
    let cacheDir: string;

    beforeAll(async () => {
      mirror = createServer((request, response) => {
        fetch(`${defaultArchiveUrl}${request.url}`)
          .then(async (upstream) => {
            const body = Buffer.from(await upstream.arrayBuffer());
            if (request.url?.includes('/libpq5_'))
              body.writeUInt8(body.readUInt8(body.length - 1) ^ 0xff, body.length - 1);
            response.writeHead(upstream.status, { 'content-length': body.length }).end(body);
          })
          .catch(() => response.writeHead(502).end());
      });
      await new Promise<void>((listening) => mirror.listen(0, '127.0.0.1', listening));
      mirrorUrl = `http://127.0.0.1:${(mirror.address() as AddressInfo).port}`;
      cacheDir = await mkdtemp(join(tmpdir(), 'pg-client-cache-'));
      await mkdir(join(cacheDir, 'resolutions'));
      await writeFile(join(cacheDir, 'resolutions', 'earlier.json'), '{}');
    });

    afterAll(async () => {
      await new Promise((closed) => mirror.close(closed));
      await rm(cacheDir, { recursive: true, force: true });
    });

    it('fails naming the package and leaves the cache exactly as it was', async () => {
      // Prepare
      const before = await snapshot(cacheDir);

      // Act
      const error = await buildPgClient({
        archiveUrl: mirrorUrl,
        cacheDir,
        distDir: null,
        arch: hostBundleArch(),
      }).catch((e: unknown) => e);

      // Assess
      expect(error).toBeInstanceOf(PgClientBuildError);
      expect((error as Error).message).toMatch(
        /^libpq5 18\.\S+: pool\/main\/p\/postgresql-18\/libpq5_.*has SHA-256 \w+, the Packages index says \w+$/,
      );
      expect(await snapshot(cacheDir)).toEqual(before);
    });
  });
});
