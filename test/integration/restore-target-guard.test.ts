/**
 * The restore guard decides "same server" from what the servers say, never from how a URL spells the
 * host. Production here is run by a role without superuser that cannot read pg_control_system() (a
 * provider may revoke it), and the target names it another way: `localhost`, `127.0.0.1`, a second
 * loopback address (`127.0.0.2`, which no resolver maps to the first), or a host name an injected
 * resolver maps to it. The old guard compared host strings and restored over production in each.
 */

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ProductionOptedInError, ProductionTargetError } from '../../lib/errors.ts';
import { parseConnectionUrl } from '../../lib/pg/connection.ts';
import { readServerIdentity, type Session, withSession } from '../../lib/pg/session.ts';
import {
  assertProductionNotOptedIn,
  assertSafeRestoreTarget,
  optInStatement,
  type ProductionIdentity,
  type RestoreGuardOptions,
  restoreTargetComment,
} from '../../lib/verify/restore-target-guard.ts';
import { freePort, type PostgresServer, startPostgresServer } from '../../tools/local/postgres-server.ts';

let stateDir: string;
let production: PostgresServer;
let other: PostgresServer;

/** A URL as the non-superuser owner, with the host spelled as the test says. */
function ownerUrl(server: PostgresServer, host: string, database = 'app'): string {
  const url = new URL(server.url(database));
  url.hostname = host;
  url.username = 'app_owner';
  url.password = 'owner-pw';
  return url.toString();
}
const connect = (url: string) => parseConnectionUrl(url, 'test');

async function sql(url: string, ...statements: string[]): Promise<void> {
  await withSession(connect(url), async (session) => {
    for (const statement of statements) await session.query(statement);
  });
}

/** A server as a provider hands it over: the owner is no superuser; pg_control_system() revoked or not. */
async function provision(server: PostgresServer, revokeSystemIdentifier: boolean): Promise<void> {
  // A function's grants live in each database's catalog: revoked in template1, new databases inherit it.
  if (revokeSystemIdentifier) {
    await sql(server.url('template1'), 'REVOKE EXECUTE ON FUNCTION pg_control_system() FROM PUBLIC');
  }
  await sql(
    server.url('postgres'),
    "CREATE ROLE app_owner LOGIN PASSWORD 'owner-pw' NOSUPERUSER CREATEDB",
    'CREATE DATABASE app OWNER app_owner',
    'CREATE DATABASE other_app OWNER app_owner',
  );
  for (const database of ['app', 'other_app']) {
    await sql(ownerUrl(server, '127.0.0.1', database), optInStatement(database));
  }
}

/** What the Dump step records about production, read as its owner through 127.0.0.1. */
async function recordedSource(server: PostgresServer): Promise<ProductionIdentity> {
  const connection = connect(ownerUrl(server, '127.0.0.1'));
  const identity = await withSession(connection, readServerIdentity);
  return {
    host: connection.host,
    port: connection.port,
    database: identity.database,
    systemIdentifier: identity.systemIdentifier,
  };
}

async function guard(targetUrl: string, source: ProductionIdentity, options: RestoreGuardOptions) {
  const target = connect(targetUrl);
  return withSession(target, (session: Session) => assertSafeRestoreTarget(session, target, source, options));
}

const liveProduction = (): RestoreGuardOptions['production'] => async () =>
  connect(ownerUrl(production, '127.0.0.1'));
/** Production configured but down: a port nothing listens on. */
const unreachableProduction = async (): Promise<RestoreGuardOptions['production']> => {
  const port = await freePort();
  return async () => connect(`postgresql://app_owner:owner-pw@127.0.0.1:${port}/app`);
};
/** A resolver that knows one more name for the loopback address, as /etc/hosts or DNS could. */
const withAlias = async (host: string) =>
  host === 'prod-alias.internal' ? ['127.0.0.1'] : host === 'localhost' ? ['127.0.0.1', '::1'] : [host];

beforeAll(async () => {
  stateDir = await mkdtemp(join(tmpdir(), 'guard-'));
  // Production also answers on a second loopback address: a name no resolver relates to 127.0.0.1.
  production = await startPostgresServer({
    dataDir: join(stateDir, 'production'),
    settings: { listen_addresses: '127.0.0.1,127.0.0.2' },
  });
  other = await startPostgresServer({ dataDir: join(stateDir, 'other') });
  await provision(production, true);
  await provision(other, true);
}, 120_000);

afterAll(async () => {
  await other?.stop();
  await production?.stop();
  await rm(stateDir, { recursive: true, force: true });
});

const refusal = (promise: Promise<unknown>) =>
  promise.then(
    () => undefined,
    (error: unknown) => error as ProductionTargetError,
  );

describe('the restore guard with an unreadable system identifier on both sides', () => {
  it('cannot read the identifier as the owner: the case the old guard treated as "different"', async () => {
    const source = await recordedSource(production);
    expect(source.systemIdentifier).toBeNull();
  });

  describe.each([
    ['localhost', 'localhost'],
    ['127.0.0.1', '127.0.0.1'],
    ['a second loopback address', '127.0.0.2'],
    ['another database on production', '127.0.0.1'],
  ])('a target naming production as %s', (_label, host) => {
    const database = _label.startsWith('another') ? 'other_app' : 'app';

    it('is refused as production when production can be asked live', async () => {
      const error = await refusal(
        guard(ownerUrl(production, host, database), await recordedSource(production), {
          production: liveProduction(),
        }),
      );
      expect(error).toBeInstanceOf(ProductionTargetError);
      expect(error?.message).toMatch(/it is the production server \(production sees the target session/);
      expect(error?.details).toEqual({ reason: 'same-server', evidence: 'live' });
    });

    if (host !== '127.0.0.2') {
      it('is refused, even with the override, when production cannot be asked: the names share an address', async () => {
        const error = await refusal(
          guard(ownerUrl(production, host, database), await recordedSource(production), {
            production: await unreachableProduction(),
            targetNotProduction: true,
          }),
        );
        expect(error).toBeInstanceOf(ProductionTargetError);
        expect(error?.details).toEqual({ reason: 'same-server', evidence: 'address' });
      });
    }
  });

  it('refuses a second loopback address when production cannot be asked and nobody vouches', async () => {
    const error = await refusal(
      guard(ownerUrl(production, '127.0.0.2'), await recordedSource(production), {
        production: await unreachableProduction(),
      }),
    );
    expect(error?.details).toEqual({ reason: 'identity-unknown' });
    expect(error?.message).toMatch(
      /cannot tell whether it is the production server: production's and the target's system_identifier could not be read .*production could not be asked.*pass --target-not-production/,
    );
  });

  /** A guard run whose target the guard sees named `host`, connected through the real address. */
  async function guardNamed(host: string, options: RestoreGuardOptions) {
    const target = connect(ownerUrl(production, '127.0.0.1'));
    const source = await recordedSource(production);
    return refusal(
      withSession(target, (session) =>
        assertSafeRestoreTarget(session, { ...target, host }, source, options),
      ),
    );
  }

  it('refuses a host name that resolves to production, with no live answer and the override', async () => {
    const error = await guardNamed('prod-alias.internal', {
      resolveHost: withAlias,
      targetNotProduction: true,
    });
    expect(error?.details).toEqual({ reason: 'same-server', evidence: 'address' });
  });

  it('refuses a host name no resolver relates to production: production asked live says so', async () => {
    const error = await guardNamed('prod-alias.internal', {
      production: liveProduction(),
      resolveHost: async () => ['192.0.2.1'],
    });
    expect(error?.details).toEqual({ reason: 'same-server', evidence: 'live' });
  });

  it('accepts another server when production, asked live, does not see the target session', async () => {
    const identity = await guard(ownerUrl(other, 'localhost'), await recordedSource(production), {
      production: liveProduction(),
    });
    expect(identity.database).toBe('app');
  });

  it('refuses another server it cannot tell apart, naming the override; accepts it with the override', async () => {
    const source = await recordedSource(production);
    const error = await refusal(
      guard(ownerUrl(other, '127.0.0.1'), source, { production: await unreachableProduction() }),
    );
    expect(error?.details).toEqual({ reason: 'identity-unknown' });
    expect(error?.message).toMatch(/--target-not-production/);

    const noProduction = await refusal(guard(ownerUrl(other, '127.0.0.1'), source, {}));
    expect(noProduction?.message).toMatch(/production is not configured here/);

    const identity = await guard(ownerUrl(other, '127.0.0.1'), source, {
      production: await unreachableProduction(),
      targetNotProduction: true,
    });
    expect(identity.database).toBe('app');
  });
});

describe('the restore guard with readable system identifiers', () => {
  let readable: PostgresServer;
  beforeAll(async () => {
    readable = await startPostgresServer({ dataDir: join(stateDir, 'readable') });
    await provision(readable, false);
  }, 60_000);
  afterAll(async () => {
    await readable?.stop();
  });

  it('refuses production under any name by its identifier, asked live or not', async () => {
    const source = await recordedSource(readable);
    expect(source.systemIdentifier).toMatch(/^\d+$/);
    const error = await refusal(guard(ownerUrl(readable, 'localhost', 'other_app'), source, {}));
    expect(error?.details).toEqual({ reason: 'same-server', evidence: 'system-identifier' });
  });

  it('accepts another server by its identifier alone when production cannot be asked', async () => {
    const source = await recordedSource(readable);
    // `other` hides its identifier; a server of a third kind shows a different one.
    const third = await startPostgresServer({ dataDir: join(stateDir, 'third') });
    try {
      await provision(third, false);
      const identity = await guard(ownerUrl(third, 'localhost'), source, {
        production: await unreachableProduction(),
      });
      expect(identity.systemIdentifier).not.toBe(source.systemIdentifier);
    } finally {
      await third.stop();
    }
  });
});

describe('the opt-in', () => {
  const comment = (text: string | null) =>
    sql(
      other.url('postgres'),
      `COMMENT ON DATABASE other_app IS ${text === null ? 'NULL' : `'${text.replaceAll("'", "''")}'`}`,
    );
  const target = () => ownerUrl(other, '127.0.0.1', 'other_app');
  afterAll(() => comment(restoreTargetComment));

  it.each([
    ['the negated comment', 'This is NOT a verified-pg-backups:restore-target, never restore here.'],
    ['the marker inside a word', 'xverified-pg-backups:restore-targets'],
    ['no comment', null],
  ])('refuses %s', async (_label, text) => {
    await comment(text);
    const error = await refusal(
      guard(target(), await recordedSource(production), { production: liveProduction() }),
    );
    expect(error?.details).toEqual({ reason: 'not-opted-in' });
  });

  it.each([
    ['the marker alone', restoreTargetComment],
    ['the marker as one line of several', `Staging for the shop.\n  ${restoreTargetComment}\nAsk ops first.`],
  ])('accepts %s', async (_label, text) => {
    await comment(text);
    const identity = await guard(target(), await recordedSource(production), {
      production: liveProduction(),
    });
    expect(identity.database).toBe('other_app');
  });
});

describe('production carrying the opt-in', () => {
  it('fails the check with a named error that says how to remove it; a mere mention passes', async () => {
    const url = ownerUrl(production, '127.0.0.1');
    const check = () => withSession(connect(url), assertProductionNotOptedIn);
    const error = await check().catch((caught: unknown) => caught as Error);
    expect(error).toBeInstanceOf(ProductionOptedInError);
    expect(error?.message).toMatch(
      /production database app is opted in .*run: COMMENT ON DATABASE "?app"? IS NULL/,
    );

    await sql(url, "COMMENT ON DATABASE app IS 'This is NOT a verified-pg-backups:restore-target.'");
    await expect(check()).resolves.toBeUndefined();
    await sql(url, optInStatement('app'));
  });
});
