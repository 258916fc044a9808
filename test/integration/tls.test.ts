/**
 * TLS against a server that accepts nothing else (pg_hba `hostnossl ... reject`), as managed providers
 * run them (issue 15): a connection string without sslmode still connects, node-postgres and pg_dump use
 * the same mode, and every way TLS can fail has its own name, never DatabaseAuthError's "fix the
 * password".
 *
 * One server for every case. Its certificates are made with openssl at test time: a CA the pg-client
 * bundle does not know, and a server certificate for IP 127.0.0.2. It listens on 127.0.0.1 (plain text,
 * for `postgres` only: the harness's readiness check and the setup) and on 127.0.0.2, which the TLS
 * policy counts as a remote host (Linux routes all of 127.0.0.0/8 to the loopback interface).
 */
import { execFile } from 'node:child_process';
import { chmod, chown, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { dumpToStore, type PgPrograms } from '../../lib/backup/dump.ts';
import { readRuntimeSettings } from '../../lib/config.ts';
import {
  DatabaseAuthError,
  DatabaseCertificateError,
  DatabaseTlsRequiredError,
  DatabaseTlsUnavailableError,
} from '../../lib/errors.ts';
import { resolvePgBundle } from '../../lib/pg/client.ts';
import { type PgConnection, parseConnectionUrl } from '../../lib/pg/connection.ts';
import { runPgProcess, startPgProcess } from '../../lib/pg/process.ts';
import { serverUser } from '../../lib/pg/run-as.ts';
import { openSession, withSession } from '../../lib/pg/session.ts';
import { libpqTlsError } from '../../lib/pg/tls.ts';
import { createRuntime, type Runtime } from '../../lib/runtime.ts';
import type { BackupStore } from '../../lib/storage/backup-store.ts';
import { type PostgresServer, startPostgresServer } from '../../tools/local/postgres-server.ts';

const execFileAsync = promisify(execFile);
const ownerPassword = 'Tls-Owner-Pw-8830';
const remoteHost = '127.0.0.2';
const orderCount = 250;

let dir: string;
let server: PostgresServer;
let caFile: string;
let wrongCaFile: string;
let runtime: Runtime;
const warnings: unknown[][] = [];

/** `shop` as its owner, on the remote address unless another host is given. */
const shopUrl = (query = '', options: { password?: string; host?: string } = {}) =>
  `postgresql://shop_owner:${options.password ?? ownerPassword}@${options.host ?? remoteHost}:${server.port}/shop${query}`;
const at = (url: string): PgConnection => parseConnectionUrl(url, 'DATABASE_URL');

/** openssl with arguments that hold no spaces (relative paths in the test directory). */
async function openssl(commandLine: string): Promise<void> {
  await execFileAsync('/usr/bin/openssl', commandLine.split(' '), { cwd: dir });
}

const newKey = '-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes';

/** A self-signed CA (P-256: quick to make), `<name>.crt` and `<name>.key` in the test directory. */
async function makeCa(name: string): Promise<string> {
  await openssl(`req -x509 ${newKey} -days 2 -keyout ${name}.key -out ${name}.crt -subj /CN=${name}`);
  return join(dir, `${name}.crt`);
}

async function makeServerCertificate(): Promise<{ cert: string; key: string }> {
  await openssl(`req ${newKey} -keyout server.key -out server.csr -subj /CN=${remoteHost}`);
  await writeFile(
    join(dir, 'server.ext'),
    [
      `subjectAltName=IP:${remoteHost}`,
      'basicConstraints=CA:FALSE',
      'keyUsage=digitalSignature',
      'extendedKeyUsage=serverAuth',
      'subjectKeyIdentifier=hash',
      'authorityKeyIdentifier=keyid,issuer',
    ].join('\n'),
  );
  await openssl(
    'x509 -req -in server.csr -CA test-ca.crt -CAkey test-ca.key -CAcreateserial -days 2 ' +
      '-extfile server.ext -out server.crt',
  );
  const key = join(dir, 'server.key');
  // PostgreSQL refuses a key others may read; it must belong to the user the server runs as.
  const runAs = await serverUser();
  if (runAs) await chown(key, runAs.uid, runAs.gid);
  await chmod(key, 0o600);
  return { cert: join(dir, 'server.crt'), key };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tls-'));
  await chmod(dir, 0o755);
  caFile = await makeCa('test-ca');
  wrongCaFile = await makeCa('wrong-ca');
  const { cert, key } = await makeServerCertificate();
  const hbaFile = join(dir, 'pg_hba.conf');
  await writeFile(
    hbaFile,
    [
      'host all postgres 127.0.0.1/32 scram-sha-256',
      'hostnossl all all 0.0.0.0/0 reject',
      'hostssl all all 0.0.0.0/0 scram-sha-256',
    ].join('\n'),
  );
  server = await startPostgresServer({
    dataDir: join(dir, 'data'),
    settings: {
      listen_addresses: `127.0.0.1,${remoteHost}`,
      ssl: 'on',
      ssl_cert_file: cert,
      ssl_key_file: key,
      hba_file: hbaFile,
    },
  });
  const admin = new pg.Client({ connectionString: server.url() });
  await admin.connect();
  await admin.query(`CREATE ROLE shop_owner LOGIN PASSWORD '${ownerPassword}'`);
  await admin.query('CREATE DATABASE shop OWNER shop_owner');
  await admin.end();
  const shop = new pg.Client({ connectionString: server.url('shop') });
  await shop.connect();
  await shop.query('CREATE TABLE public.orders (id int PRIMARY KEY, total numeric(10,2))');
  await shop.query(`INSERT INTO public.orders SELECT i, i * 1.5 FROM generate_series(1, ${orderCount}) i`);
  await shop.query('ALTER TABLE public.orders OWNER TO shop_owner');
  await shop.end();
  runtime = createRuntime(
    readRuntimeSettings({ BACKUP_BUCKET: 'tls-test', PRODUCTION_DATABASE_URL: shopUrl() }),
    { logger: { warn: (...args: unknown[]) => void warnings.push(args) } },
  );
}, 120_000);

afterAll(async () => {
  await server?.stop();
  await rm(dir, { recursive: true, force: true });
});

/** Whether the session's own connection is encrypted, as the server sees it. */
async function encrypted(connection: PgConnection): Promise<boolean | undefined> {
  return withSession(connection, async (session) => {
    const { rows } = await session.query<{ ssl: boolean }>(
      'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()',
    );
    return rows[0]?.ssl;
  });
}

async function failureOf(work: Promise<unknown>): Promise<Error> {
  const outcome = await work.then(
    () => undefined,
    (error: unknown) => error,
  );
  if (!(outcome instanceof Error)) throw new Error('expected a failure, got success');
  return outcome;
}

describe('a connection string without sslmode to a TLS-only server', () => {
  it('connects encrypted, falling back to require because the test CA is not in the bundle, and logs why', async () => {
    const production = await runtime.productionConnection();

    expect(await encrypted(production)).toBe(true);
    expect(production).toMatchObject({ sslmode: 'require', sslrootcert: undefined });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.[1]).toMatchObject({
      connection: `shop_owner@${remoteHost}:${server.port}/shop`,
      sslmode: 'require',
      caFile: expect.stringMatching(/share\/ca-certificates\.crt$/),
      reason: expect.stringMatching(/unable to verify the first certificate/),
    });
    expect(JSON.stringify(warnings)).not.toContain(ownerPassword);
  });

  it('still says DatabaseAuthError for a wrong password over TLS', async () => {
    const connection = await runtime.negotiateTls(at(shopUrl('', { password: 'not-the-password' })));
    const error = await failureOf(openSession(connection));

    expect(connection.sslmode).toBe('require');
    expect(error).toBeInstanceOf(DatabaseAuthError);
    expect(error.message).toMatch(/password authentication failed/);
  });
});

describe('an explicit sslmode to a TLS-only server', () => {
  it('verifies the server with verify-full and the CA in sslrootcert, and keeps that mode', async () => {
    const url = shopUrl(`?sslmode=verify-full&sslrootcert=${caFile}`);
    const connection = await runtime.negotiateTls(at(url));

    expect(connection).toEqual(at(url));
    expect(await encrypted(connection)).toBe(true);
  });

  it('verifies with an sslrootcert given without sslmode', async () => {
    const connection = await runtime.negotiateTls(at(shopUrl(`?sslrootcert=${caFile}`)));

    expect(connection).toMatchObject({ sslmode: 'verify-full', sslrootcert: caFile });
    expect(await encrypted(connection)).toBe(true);
  });

  it('fails with DatabaseCertificateError, not DatabaseAuthError, when verify-full lacks the right CA', async () => {
    const wrongCa = await failureOf(
      openSession(at(shopUrl(`?sslmode=verify-full&sslrootcert=${wrongCaFile}`))),
    );
    const bundleCa = await runtime.negotiateTls(at(shopUrl('?sslmode=verify-full')));
    const bundleFailure = await failureOf(openSession(bundleCa));

    expect(wrongCa).toBeInstanceOf(DatabaseCertificateError);
    expect(wrongCa.message).toContain(
      `shop_owner@${remoteHost}:${server.port}/shop presented a TLS certificate`,
    );
    expect(bundleCa.sslrootcert).toMatch(/share\/ca-certificates\.crt$/);
    expect(bundleFailure).toBeInstanceOf(DatabaseCertificateError);
    expect(`${wrongCa.message} ${bundleFailure.message}`).not.toContain(ownerPassword);
  });

  it('checks the host name for verify-full but not for verify-ca', async () => {
    const viaOtherAddress = (mode: string) =>
      at(shopUrl(`?sslmode=${mode}&sslrootcert=${caFile}`, { host: '127.0.0.1' }));

    expect(await encrypted(viaOtherAddress('verify-ca'))).toBe(true);
    const error = await failureOf(openSession(viaOtherAddress('verify-full')));
    expect(error).toBeInstanceOf(DatabaseCertificateError);
    expect(error.message).toMatch(/IP: 127\.0\.0\.1 is not in the cert's list/);
  });

  it('fails with DatabaseTlsRequiredError for sslmode=disable', async () => {
    const error = await failureOf(openSession(at(shopUrl('?sslmode=disable'))));

    expect(error).toBeInstanceOf(DatabaseTlsRequiredError);
    expect(error.message).toMatch(/accepts only encrypted connections .*no encryption/);
    expect(error.message).not.toContain(ownerPassword);
  });

  it('connects with allow and prefer over TLS, as libpq does', async () => {
    expect(await encrypted(at(shopUrl('?sslmode=allow')))).toBe(true);
    expect(await encrypted(at(shopUrl('?sslmode=prefer')))).toBe(true);
  });
});

/** A store that keeps what the dump writes in memory: only what dumpToStore calls. */
function memoryStore(): { store: BackupStore; objects: Map<string, unknown> } {
  const objects = new Map<string, unknown>();
  const store = {
    listIncompleteUploads: async () => [],
    abortUpload: async () => undefined,
    async uploadStream(key: string, body: Readable) {
      const chunks: Buffer[] = [];
      for await (const chunk of body) chunks.push(chunk as Buffer);
      objects.set(key, Buffer.concat(chunks));
    },
    async putJson(key: string, value: unknown) {
      objects.set(key, value);
    },
  };
  return { store: store as unknown as BackupStore, objects };
}

describe('pg_dump against a TLS-only server', () => {
  it('dumps with the negotiated connection, in the same mode as node-postgres', async () => {
    const { store, objects } = memoryStore();

    const result = await dumpToStore(
      { compression: 'gzip:1', trigger: 'manual' },
      {
        store,
        connection: await runtime.productionConnection(),
        programs: runtime.programs,
        proof: 'counts',
      },
    );

    expect(result).toMatchObject({ tables: 1, rows: orderCount });
    expect((objects.get(result.dumpKey) as Buffer).subarray(0, 5).toString()).toBe('PGDMP');
  });

  it('names pg_dump failing the certificate check DatabaseCertificateError', async () => {
    const { store } = memoryStore();
    const strict = at(shopUrl(`?sslmode=verify-full&sslrootcert=${wrongCaFile}`));
    // node-postgres gets the negotiated mode; only pg_dump is given a CA that did not sign the server.
    const programs: PgPrograms = {
      clientForServer: runtime.programs.clientForServer,
      start: (bundle, program, args, options) =>
        startPgProcess(bundle, program, args, { ...options, connection: strict }),
    };

    const error = await failureOf(
      dumpToStore(
        { compression: 'gzip:1', trigger: 'manual' },
        { store, connection: await runtime.productionConnection(), programs, proof: 'counts' },
      ),
    );

    expect(error).toBeInstanceOf(DatabaseCertificateError);
    expect(error.message).toMatch(/certificate verify failed/);
    expect(error.message).not.toContain(ownerPassword);
  });

  it('names pg_dump refused for sslmode=disable DatabaseTlsRequiredError', async () => {
    const connection = at(shopUrl('?sslmode=disable'));
    const exit = await runPgProcess(await resolvePgBundle(), 'pg_dump', ['--schema-only'], { connection });

    expect(exit.outcome).toBe('failed');
    expect(libpqTlsError(exit.lastLines, connection)).toBeInstanceOf(DatabaseTlsRequiredError);
  });
});

describe('a server that offers no TLS', () => {
  let noTls: Server;
  let port: number;

  beforeAll(async () => {
    // Answers every SSLRequest with 'N', as PostgreSQL with ssl=off does; nothing more is needed.
    noTls = createServer((socket) => {
      socket.on('error', () => undefined);
      socket.once('data', () => socket.end('N'));
    });
    await new Promise<void>((listening) => noTls.listen(0, remoteHost, listening));
    port = (noTls.address() as { port: number }).port;
  });

  afterAll(() => new Promise<void>((closed) => noTls.close(() => closed())));

  it('names the refusal DatabaseTlsUnavailableError, by default and with sslmode=require, in both clients', async () => {
    const url = (query: string) =>
      `postgresql://shop_owner:${ownerPassword}@${remoteHost}:${port}/shop${query}`;
    const byDefault = await runtime.negotiateTls(at(url('')));
    const required = at(url('?sslmode=require'));

    const fromNode = await failureOf(openSession(byDefault));
    const exit = await runPgProcess(await resolvePgBundle(), 'pg_dump', ['--schema-only'], {
      connection: required,
    });

    expect(byDefault.sslmode).toBe('verify-full');
    expect(fromNode).toBeInstanceOf(DatabaseTlsUnavailableError);
    expect(fromNode.message).toContain('set sslmode=disable explicitly');
    expect(libpqTlsError(exit.lastLines, required)).toBeInstanceOf(DatabaseTlsUnavailableError);
  });
});
