import { describe, expect, it } from '@jest/globals';
import {
  compareDebianVersions,
  type PackageEntry,
  parsePackages,
  parseRelease,
  resolvePackages,
  upstreamVersion,
} from '../../../../layers/pg-client/debian.ts';
import { PgClientBuildError } from '../../../../lib/errors.ts';

const stanza = (fields: Record<string, string>) =>
  Object.entries({
    Architecture: 'amd64',
    'Multi-Arch': 'same',
    Filename: `pool/main/x/${fields.Package}.deb`,
    Size: '10',
    SHA256: `sha-of-${fields.Package}`,
    ...fields,
  })
    .map(([key, value]) => `${key}: ${value}`)
    .join('\n');

const index = (...stanzas: string[]) => parsePackages(`${stanzas.join('\n\n')}\n`);

describe('parseRelease()', () => {
  it('reads the suite and the SHA-256 of every listed index', () => {
    // Prepare
    const text = [
      'Origin: Debian',
      'Suite: testing',
      'Codename: forky',
      'Date: Fri, 30 Oct 2026 08:08:01 UTC',
      'Valid-Until: Fri, 06 Nov 2026 08:08:01 UTC',
      'MD5Sum:',
      ' 11c167e715f255b51ad5152442e2f44f 10093888 main/binary-amd64/Packages.xz',
      'SHA256:',
      ' aa11 59660780 main/binary-amd64/Packages',
      ' bb22 10093888 main/binary-amd64/Packages.xz',
    ].join('\n');

    // Act
    const release = parseRelease(text);

    // Assess
    expect(release).toMatchObject({
      suite: 'testing',
      codename: 'forky',
      validUntil: 'Fri, 06 Nov 2026 08:08:01 UTC',
    });
    expect(release.sha256.get('main/binary-amd64/Packages.xz')).toEqual({ sha256: 'bb22', size: 10093888 });
  });

  it('rejects a release without checksums', () => {
    expect(() => parseRelease('Suite: testing\nCodename: forky\nDate: now\n')).toThrow(PgClientBuildError);
  });
});

describe('parsePackages()', () => {
  it('reads versions, hashes and both Pre-Depends and Depends with their alternatives', () => {
    const packages = index(
      stanza({
        Package: 'libfoo1',
        Version: '1:2.0-1',
        'Pre-Depends': 'libc6 (>= 2.38)',
        Depends: 'libbar2 | libbaz2 (>> 1.0~rc1), debconf (>= 0.5) | debconf-2.0',
      }),
    );

    const entry = packages.get('libfoo1');

    expect(entry).toMatchObject({ version: '1:2.0-1', sha256: 'sha-of-libfoo1', multiArch: 'same' });
    expect(entry?.depends).toEqual([
      [{ name: 'libc6', relation: '>=', version: '2.38' }],
      [
        { name: 'libbar2', relation: undefined, version: undefined },
        { name: 'libbaz2', relation: '>>', version: '1.0~rc1' },
      ],
      [
        { name: 'debconf', relation: '>=', version: '0.5' },
        { name: 'debconf-2.0', relation: undefined, version: undefined },
      ],
    ]);
  });

  it('keeps the highest version when a package appears twice', () => {
    const packages = index(
      stanza({ Package: 'libfoo1', Version: '2.0-1' }),
      stanza({ Package: 'libfoo1', Version: '2.0-1+b1' }),
    );

    expect(packages.get('libfoo1')?.version).toBe('2.0-1+b1');
  });
});

describe('compareDebianVersions()', () => {
  it.each([
    ['18.6-3', '18.6-2', 1],
    ['18.6-3', '18.10-1', -1],
    ['1:1.3', '2.0', 1],
    ['1.0~rc1', '1.0', -1],
    ['1.0', '1.0+b1', -1],
    ['2.43-7', '2.43-7', 0],
    ['1.5.7+dfsg-4', '1.5.5', 1],
  ])('orders %s against %s as %i', (a, b, expected) => {
    expect(Math.sign(compareDebianVersions(a, b))).toBe(expected);
  });
});

describe('resolvePackages()', () => {
  const archive = index(
    stanza({
      Package: 'postgresql-client-18',
      Version: '18.6-3',
      'Multi-Arch': 'foreign',
      Depends: 'libpq5 (>= 18.6), postgresql-client-common (>= 182~), zlib1g (>= 1:1.1.4), libc6 (>= 2.38)',
    }),
    stanza({ Package: 'libpq5', Version: '18.6-3', Depends: 'libc6 (>= 2.38), libssl3t64 (>= 3.0.0)' }),
    stanza({
      Package: 'libssl3t64',
      Version: '3.6.5-1',
      Depends: 'libc6 (>= 2.38), openssl-provider-legacy',
    }),
    stanza({ Package: 'openssl-provider-legacy', Version: '3.6.5-1', 'Multi-Arch': 'foreign' }),
    stanza({ Package: 'zlib1g', Version: '1:1.3.dfsg-3', Depends: 'libc6 (>= 2.14)' }),
    stanza({ Package: 'libc6', Version: '2.43-7', Depends: 'libgcc-s1' }),
    stanza({ Package: 'libgcc-s1', Version: '16.2.0-3', Depends: 'libc6 (>= 2.35)' }),
    stanza({
      Package: 'postgresql-client-common',
      Version: '283',
      'Multi-Arch': 'foreign',
      Depends: 'perl:any',
    }),
    stanza({
      Package: 'ca-certificates',
      Version: '20260816',
      Architecture: 'all',
      'Multi-Arch': 'foreign',
      Depends: 'openssl',
    }),
  );
  const names = (entries: PackageEntry[]) => entries.map((entry) => entry.name);

  it('follows library dependencies (including ones not named lib*) and skips system tooling', () => {
    const resolved = resolvePackages(archive, ['postgresql-client-18'], ['ca-certificates']);

    expect(names(resolved)).toEqual([
      'ca-certificates',
      'libc6',
      'libgcc-s1',
      'libpq5',
      'libssl3t64',
      'postgresql-client-18',
      'zlib1g',
    ]);
  });

  it('names the package whose library dependency the index cannot satisfy', () => {
    const tooOld = index(
      stanza({ Package: 'postgresql-client-18', Version: '18.6-3', Depends: 'libpq5 (>= 18.6)' }),
      stanza({ Package: 'libpq5', Version: '17.2-1' }),
    );

    expect(() => resolvePackages(tooOld, ['postgresql-client-18'])).toThrow(
      /postgresql-client-18 depends on libpq5 \(>= 18.6\)/,
    );
  });

  it('fails when a root package is not in the index', () => {
    expect(() => resolvePackages(archive, ['postgresql-client-19'])).toThrow(
      /postgresql-client-19 is not in/,
    );
  });
});

describe('upstreamVersion()', () => {
  it('extracts the PostgreSQL release from a Debian version', () => {
    expect(upstreamVersion('18.6-3')).toBe('18.6');
    expect(upstreamVersion('17.12-1+deb13u1')).toBe('17.12');
  });
});
