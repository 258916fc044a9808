import { describe, expect, it } from '@jest/globals';
import { PgClientMissingError, PgClientVersionError } from '../../../../lib/errors.ts';
import {
  clientForServer,
  formatServerVersion,
  type PgBundle,
  pgProgramEnvironment,
  resolvePgBundle,
} from '../../../../lib/pg/client.ts';
import { parseConnectionUrl } from '../../../../lib/pg/connection.ts';

const bundle = (major: number, version: string): PgBundle => ({
  dir: `/bundles/${major}`,
  major,
  version,
  arch: 'x86_64',
});
const bundles = [bundle(17, '17.12'), bundle(18, '18.6')];

describe('clientForServer()', () => {
  it('takes the closest client major that is not older than the server', async () => {
    await expect(clientForServer(150018, { bundles })).resolves.toMatchObject({ major: 17 });
    await expect(clientForServer(170004, { bundles })).resolves.toMatchObject({ major: 17 });
    await expect(clientForServer(180001, { bundles })).resolves.toMatchObject({ major: 18 });
    await expect(clientForServer(90624, { bundles })).resolves.toMatchObject({ major: 17 });
  });

  it('says which server it found, which clients exist and how to build the right one', async () => {
    const error = await clientForServer(180001, { bundles: [bundle(17, '17.12')] }).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(PgClientVersionError);
    expect((error as Error).message).toMatch(/PostgreSQL 18\.1, newer than every available client \(17\.12/);
    expect((error as Error).message).toContain('npm run build:pg-client -- --major 18');
  });

  it('tells the user when no Debian suite carries a client for the server yet', async () => {
    await expect(clientForServer(190000, { bundles })).rejects.toThrow(/PostgreSQL 19\.0.*No Debian suite/);
  });

  it('rejects a version number that is not a supported server', async () => {
    await expect(clientForServer(80400, { bundles })).rejects.toBeInstanceOf(PgClientVersionError);
  });
});

describe('formatServerVersion()', () => {
  it('prints server_version_num the way PostgreSQL prints its version', () => {
    expect(formatServerVersion(150018)).toBe('15.18');
    expect(formatServerVersion(90624)).toBe('9.6.24');
  });
});

describe('resolvePgBundle()', () => {
  it('treats PG_CLIENT_DIR as the only place to look and explains how to build a bundle', async () => {
    await expect(
      resolvePgBundle({ env: { PG_CLIENT_DIR: '/nonexistent/pg-client' } }),
    ).rejects.toBeInstanceOf(PgClientMissingError);
  });
});

describe('pgProgramEnvironment()', () => {
  it('holds only the libpq variables of the connection and never inherits from the parent', () => {
    process.env.PGPASSWORD = 'leaked';
    try {
      const env = pgProgramEnvironment(bundle(18, '18.6'), {
        connection: parseConnectionUrl('postgres://app:secret@db.example:5433/prod', 'url'),
      });

      expect(env).toEqual({
        PGHOST: 'db.example',
        PGPORT: '5433',
        PGUSER: 'app',
        PGPASSWORD: 'secret',
        PGDATABASE: 'prod',
        PGAPPNAME: 'verified-pg-backups',
        PGCONNECT_TIMEOUT: '15',
        PGOPTIONS: '-c statement_timeout=0 -c row_security=off',
      });
    } finally {
      delete process.env.PGPASSWORD;
    }
  });

  it('points verify-full TLS at the bundled CA file unless the connection names one', () => {
    const verify = parseConnectionUrl('postgres://app@db.example/prod?sslmode=verify-full', 'url');
    const own = parseConnectionUrl(
      'postgres://app@db.example/prod?sslmode=verify-full&sslrootcert=/ca.pem',
      'url',
    );

    expect(pgProgramEnvironment(bundle(18, '18.6'), { connection: verify }).PGSSLROOTCERT).toBe(
      '/bundles/18/share/ca-certificates.crt',
    );
    expect(pgProgramEnvironment(bundle(18, '18.6'), { connection: own }).PGSSLROOTCERT).toBe('/ca.pem');
  });
});
