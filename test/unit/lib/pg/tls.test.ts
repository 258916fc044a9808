import { describe, expect, it } from '@jest/globals';
import {
  DatabaseAuthError,
  DatabaseCertificateError,
  DatabaseTlsRequiredError,
  DatabaseTlsUnavailableError,
} from '../../../../lib/errors.ts';
import { libpqEnvironment, type PgConnection, parseConnectionUrl } from '../../../../lib/pg/connection.ts';
import { classifyConnectionError, negotiateTls } from '../../../../lib/pg/session.ts';
import { isLocalHost, libpqTlsError, nodePgSsl, tlsErrorOf, tlsPolicy } from '../../../../lib/pg/tls.ts';

const secret = 'Tls-Canary-Pw-5521';
const caFile = '/opt/pg-client/share/ca-certificates.crt';
const at = (url: string): PgConnection => parseConnectionUrl(url, 'DATABASE_URL');
const render = at(`postgresql://app:${secret}@dpg-abc123-a.frankfurt-postgres.render.com/shop`);

/** A node-postgres failure as pg raises it: an Error with the server's SQLSTATE or Node's code. */
function failure(message: string, code?: string): Error {
  return Object.assign(new Error(message), code === undefined ? {} : { code });
}

describe('isLocalHost()', () => {
  it('counts the loopback names and Unix socket directories as local, and nothing else', () => {
    expect(['localhost', '127.0.0.1', '::1', '/tmp/scratch-socket'].filter(isLocalHost)).toHaveLength(4);
    expect(['127.0.0.2', 'db.internal', '10.0.0.5', 'localhost.example.com'].filter(isLocalHost)).toEqual([]);
  });
});

describe('tlsPolicy()', () => {
  it('tries verify-full with the bundle CA list for a remote host without sslmode, require without a CA after', () => {
    const { preferred, fallback } = tlsPolicy(render, caFile);

    expect(preferred).toEqual({ ...render, sslmode: 'verify-full', sslrootcert: caFile });
    expect(fallback).toEqual({ ...render, sslmode: 'require', sslrootcert: undefined });
  });

  it('leaves a local server without sslmode as it was', () => {
    const local = at('postgres://app@127.0.0.1:5433/shop');

    expect(tlsPolicy(local, caFile)).toEqual({ preferred: local });
  });

  it('lets an explicit sslmode win, with no fallback', () => {
    for (const mode of ['disable', 'allow', 'prefer', 'require']) {
      const explicit = at(`postgres://app@db.example.com/shop?sslmode=${mode}`);
      expect(tlsPolicy(explicit, caFile)).toEqual({ preferred: explicit });
    }
  });

  it('gives an explicit verify-* without sslrootcert the CA list libpq gets, and keeps a named one', () => {
    const verify = at('postgres://app@db.example.com/shop?sslmode=verify-ca');
    const own = at('postgres://app@db.example.com/shop?sslmode=verify-full&sslrootcert=/etc/ca.pem');

    expect(tlsPolicy(verify, caFile)).toEqual({ preferred: { ...verify, sslrootcert: caFile } });
    expect(tlsPolicy(own, caFile)).toEqual({ preferred: own });
    expect(tlsPolicy(verify, undefined)).toEqual({ preferred: verify });
  });

  it('verifies against an sslrootcert named without sslmode, with no fallback', () => {
    const own = at('postgres://app@db.example.com/shop?sslrootcert=/etc/ca.pem');

    expect(tlsPolicy(own, caFile)).toEqual({ preferred: { ...own, sslmode: 'verify-full' } });
  });

  it('gives pg_dump the same mode as node-postgres', () => {
    const { preferred, fallback } = tlsPolicy(render, caFile);

    expect(libpqEnvironment(preferred)).toMatchObject({ PGSSLMODE: 'verify-full', PGSSLROOTCERT: caFile });
    expect(libpqEnvironment(fallback ?? render)).toMatchObject({ PGSSLMODE: 'require' });
    expect(libpqEnvironment(fallback ?? render).PGSSLROOTCERT).toBeUndefined();
  });
});

describe('negotiateTls()', () => {
  it('decides without a connection when there is nothing to probe', async () => {
    const explicit = at('postgres://app@db.invalid/shop?sslmode=require');
    const local = at('postgres://app@localhost/shop');

    await expect(negotiateTls(explicit, { caFile })).resolves.toEqual(explicit);
    await expect(negotiateTls(local, { caFile })).resolves.toEqual(local);
  });
});

describe('nodePgSsl()', () => {
  const ca = '-----BEGIN CERTIFICATE-----\n...';
  const withMode = (mode: string, rootcert = '') =>
    at(`postgres://app@db.example.com/shop?sslmode=${mode}${rootcert ? `&sslrootcert=${rootcert}` : ''}`);

  it('verifies chain and host name for verify-full, leaving the name to pg and tls.connect', () => {
    const { first, otherwise } = nodePgSsl(withMode('verify-full'), ca);

    expect(first).toEqual({ rejectUnauthorized: true, ca });
    expect(otherwise).toBeUndefined();
  });

  it('verifies the chain but not the host name for verify-ca', () => {
    const { first } = nodePgSsl(withMode('verify-ca'), ca);

    expect(first).toMatchObject({ rejectUnauthorized: true, ca });
    if (first === false) throw new Error('verify-ca without TLS');
    expect(first.checkServerIdentity?.('db.example.com', {} as never)).toBeUndefined();
  });

  it('encrypts without verifying for require, unless a root certificate is named (as libpq does)', () => {
    expect(nodePgSsl(withMode('require'), undefined).first).toEqual({ rejectUnauthorized: false });
    expect(nodePgSsl(withMode('require', '/etc/ca.pem'), ca).first).toMatchObject({
      rejectUnauthorized: true,
      ca,
    });
  });

  it('tries plain text first for allow, TLS first for prefer, and only plain text for disable', () => {
    expect(nodePgSsl(withMode('allow'), undefined)).toEqual({
      first: false,
      otherwise: { rejectUnauthorized: false },
    });
    expect(nodePgSsl(withMode('prefer'), undefined)).toEqual({
      first: { rejectUnauthorized: false },
      otherwise: false,
    });
    expect(nodePgSsl(withMode('disable'), ca)).toEqual({ first: false });
    expect(nodePgSsl(at('postgres://app@localhost/shop'), undefined)).toEqual({ first: false });
  });
});

describe('tlsErrorOf()', () => {
  const noEncryption = failure(
    'pg_hba.conf rejects connection for host "10.0.0.7", user "app", database "shop", no encryption',
    '28000',
  );

  it('names a hostssl-only server refusing a plain connection, not a wrong password', () => {
    const error = classifyConnectionError(noEncryption, at(`postgres://app:${secret}@db.example.com/shop`));

    expect(error).toBeInstanceOf(DatabaseTlsRequiredError);
    expect(error.message).toContain('app@db.example.com:5432/shop accepts only encrypted connections');
    expect(error.message).toContain('The password is not at fault');
    expect(error.message).not.toContain(secret);
  });

  it('still names a wrong password and a missing pg_hba line as DatabaseAuthError', () => {
    const connection = at(`postgres://app:${secret}@db.example.com/shop?sslmode=require`);

    expect(
      classifyConnectionError(failure('password authentication failed for user "app"', '28P01'), connection),
    ).toBeInstanceOf(DatabaseAuthError);
    expect(
      classifyConnectionError(
        failure(
          'no pg_hba.conf entry for host "10.0.0.7", user "app", database "shop", SSL encryption',
          '28000',
        ),
        connection,
      ),
    ).toBeInstanceOf(DatabaseAuthError);
  });

  it('names a server without TLS when TLS is required', () => {
    const error = tlsErrorOf(failure('The server does not support SSL connections'), render);

    expect(error).toBeInstanceOf(DatabaseTlsUnavailableError);
    expect(error?.message).toContain('set sslmode=disable explicitly');
  });

  it.each([
    'SELF_SIGNED_CERT_IN_CHAIN',
    'DEPTH_ZERO_SELF_SIGNED_CERT',
    'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
    'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
    'CERT_HAS_EXPIRED',
    'ERR_TLS_CERT_ALTNAME_INVALID',
  ])('names Node TLS code %s a certificate that does not verify', (code) => {
    const connection = { ...render, sslmode: 'verify-full' as const, sslrootcert: caFile };
    const error = tlsErrorOf(failure('certificate check failed', code), connection);

    expect(error).toBeInstanceOf(DatabaseCertificateError);
    expect(error?.message).toContain(`CA ${caFile}`);
    expect(error?.details).toEqual({ sslmode: 'verify-full', sslrootcert: caFile });
  });

  it('leaves other failures to the caller', () => {
    expect(tlsErrorOf(failure('connect ECONNREFUSED 10.0.0.7:5432', 'ECONNREFUSED'), render)).toBeUndefined();
    expect(tlsErrorOf('a string', render)).toBeUndefined();
    expect(tlsErrorOf(undefined, render)).toBeUndefined();
  });
});

describe('libpqTlsError()', () => {
  const failed = 'pg_dump: error: connection to server at "db.example.com" (10.0.0.7), port 5432 failed:';

  it.each([
    [`${failed} SSL error: certificate verify failed`, DatabaseCertificateError],
    [
      `${failed} server certificate for "other.example.com" does not match host name "db.example.com"`,
      DatabaseCertificateError,
    ],
    [`${failed} root certificate file "/nonexistent/ca.pem" does not exist`, DatabaseCertificateError],
    [`${failed} server does not support SSL, but SSL was required`, DatabaseTlsUnavailableError],
    [
      `${failed} FATAL:  pg_hba.conf rejects connection for host "10.0.0.9", user "app", database "shop", no encryption`,
      DatabaseTlsRequiredError,
    ],
  ])('names "%s"', (line, named) => {
    const error = libpqTlsError(['pg_dump: warning: something else', line], render);

    expect(error).toBeInstanceOf(named);
    expect(error?.message).toContain(line.slice(line.indexOf('failed:') + 8));
    expect(error?.message).not.toContain(secret);
  });

  it('leaves other failures to the caller', () => {
    expect(
      libpqTlsError([`${failed} FATAL:  password authentication failed for user "app"`], render),
    ).toBeUndefined();
  });
});
