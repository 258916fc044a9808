import { describe, expect, it } from '@jest/globals';
import { ConfigurationError, describeError, redactConnectionString } from '../../../../lib/errors.ts';
import {
  describeConnection,
  libpqEnvironment,
  parseConnectionUrl,
  withDatabase,
} from '../../../../lib/pg/connection.ts';

const secret = 'S3cr3t-Pw-4417';

function parseError(url: string): Error {
  try {
    parseConnectionUrl(url, 'PRODUCTION_DATABASE_URL');
  } catch (error) {
    return error as Error;
  }
  throw new Error(`${url} was accepted`);
}

describe('parseConnectionUrl()', () => {
  it('reads every part, decoding the password and the database name', () => {
    const connection = parseConnectionUrl(
      `postgresql://app:${encodeURIComponent('p@ss/wörd')}@db.example.com:6543/my%20db?sslmode=verify-full`,
      'DATABASE_URL',
    );

    expect(connection).toEqual({
      host: 'db.example.com',
      port: 6543,
      user: 'app',
      password: 'p@ss/wörd',
      database: 'my db',
      sslmode: 'verify-full',
      sslrootcert: undefined,
    });
    expect(withDatabase(connection, 'other').database).toBe('other');
  });

  it.each([
    ['not a url', 'not a valid connection URL'],
    [`mysql://app:${secret}@db/shop`, 'must start with postgres://'],
    [`postgres://app:${secret}@db.example.com`, 'has no database name'],
    [`postgres://:${secret}@db.example.com/shop`, 'has no user name'],
    [`postgres://app:${secret}@db.example.com/shop?sslmode=maybe`, 'unknown sslmode'],
    [`postgres://app:${secret}@db.example.com/shop?password=${secret}`, 'unsupported parameter "password"'],
    [`postgres://app:${secret}%zz@db.example.com/shop`, 'malformed percent-escape in its password'],
    [`postgres://app:${secret}%@db.example.com/shop`, 'malformed percent-escape in its password'],
    [`postgres://app%e9:${secret}@db.example.com/shop`, 'malformed percent-escape in its user name'],
    [`postgres://app:${secret}@db.example.com/sh%zzop`, 'malformed percent-escape in its database name'],
  ])('rejects %s naming the setting and never echoing the password', (url, reason) => {
    const error = parseError(url);

    expect(error).toBeInstanceOf(ConfigurationError);
    expect(error.message).toContain('PRODUCTION_DATABASE_URL');
    expect(error.message).toContain(reason);
    expect(error.message).not.toContain(secret);
  });
});

describe('libpqEnvironment()', () => {
  it('hands the password to PostgreSQL programs in PGPASSWORD, never in a connection string', () => {
    const env = libpqEnvironment(parseConnectionUrl(`postgres://app:${secret}@db:5432/shop`, 'DATABASE_URL'));

    expect(env).toMatchObject({ PGHOST: 'db', PGPORT: '5432', PGUSER: 'app', PGDATABASE: 'shop' });
    expect(env.PGPASSWORD).toBe(secret);
    expect(
      Object.entries(env).filter(([name, value]) => name !== 'PGPASSWORD' && value.includes(secret)),
    ).toEqual([]);
  });
});

describe('redaction', () => {
  it('prints a connection without its password', () => {
    const connection = parseConnectionUrl(`postgres://app:${secret}@db:5432/shop`, 'DATABASE_URL');

    expect(describeConnection(connection)).toBe('app@db:5432/shop');
  });

  it('removes passwords from connection strings and key=value settings inside any message', () => {
    const text = redactConnectionString(
      `could not connect to postgresql://app:${secret}@db/shop (host=db password=${secret} user=app)`,
    );

    expect(text).not.toContain(secret);
    expect(text).toContain('postgresql://app:***@db/shop');
    expect(text).toContain('password=***');
    expect(describeError(new Error(`postgres://app:${secret}@db/shop refused`))).toBe(
      'Error: postgres://app:***@db/shop refused',
    );
  });
});
