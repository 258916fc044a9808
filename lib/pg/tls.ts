/**
 * TLS to PostgreSQL: which sslmode a connection uses, how node-postgres is told, and what a refused
 * handshake means. The PostgreSQL programs (pg_dump, pg_restore) read the same sslmode and sslrootcert
 * from PGSSLMODE / PGSSLROOTCERT (lib/pg/connection.ts `libpqEnvironment`), so both clients of a step
 * encrypt and verify alike.
 *
 * The policy for a connection string without sslmode (managed providers such as Render hand those out):
 * to a local server, nothing changes; to any other host, TLS verified against the pg-client bundle's
 * CA list (verify-full), and only when the server's certificate does not verify against it, TLS without
 * verification (require). `negotiateTls` (lib/pg/session.ts) makes that decision with one probe
 * connection, once per step, and returns a connection whose sslmode is explicit. An sslmode (or an
 * sslrootcert) in the connection string always wins: no probe, no fallback.
 *
 *   tlsPolicy(connection, caFile)         -> { preferred, fallback? }  the modes to try, no I/O
 *   nodePgSsl(connection, ca)             -> { first, otherwise? }     node-postgres' ssl option(s)
 *   tlsErrorOf(error, connection)         -> named error | undefined   a node-postgres failure
 *   libpqTlsError(lines, connection)      -> named error | undefined   a program's stderr
 */
import type { ConnectionOptions } from 'node:tls';
import {
  type BackupError,
  DatabaseCertificateError,
  DatabaseTlsRequiredError,
  DatabaseTlsUnavailableError,
  describeError,
} from '../errors.ts';
import { describeConnection, type PgConnection } from './connection.ts';

/**
 * A server on this machine: the names of the loopback interface, or a Unix socket directory. The
 * traffic never leaves the machine, so TLS buys nothing there, and the local runner's and the scratch
 * server's servers offer none. The list is exact on purpose, not all of 127.0.0.0/8 nor whatever
 * resolves to a loopback address: taking a remote server for a local one would send the password in
 * clear text, while taking a local one for remote only fails with a named error asking for sslmode.
 */
export function isLocalHost(host: string): boolean {
  return host === 'localhost' || host === '127.0.0.1' || host === '::1' || host.startsWith('/');
}

export interface TlsPolicy {
  /** The connection to use, with an explicit sslmode unless it is local and had none. */
  preferred: PgConnection;
  /** What to use instead when `preferred`'s certificate check fails; only for the default policy. */
  fallback?: PgConnection;
}

/**
 * The sslmode(s) for `connection`. `caFile` (the pg-client bundle's CA list) becomes the sslrootcert
 * of a verify-* mode that names none, which is what libpq gets anyway (lib/pg/client.ts
 * `pgProgramEnvironment`); without it node-postgres would trust Node's own CA list instead.
 */
export function tlsPolicy(connection: PgConnection, caFile: string | undefined): TlsPolicy {
  const withCaFile = (c: PgConnection): PgConnection =>
    c.sslmode?.startsWith('verify-') && c.sslrootcert === undefined && caFile !== undefined
      ? { ...c, sslrootcert: caFile }
      : c;
  if (connection.sslmode !== undefined) return { preferred: withCaFile(connection) };
  if (isLocalHost(connection.host)) return { preferred: connection };
  // A CA named without a mode is a CA to verify with (libpq 16+ does the same for sslrootcert=system).
  if (connection.sslrootcert !== undefined) return { preferred: { ...connection, sslmode: 'verify-full' } };
  return {
    preferred: withCaFile({ ...connection, sslmode: 'verify-full' }),
    // Without sslrootcert: libpq verifies the chain whenever it has a root certificate file.
    fallback: { ...connection, sslmode: 'require', sslrootcert: undefined },
  };
}

export type NodePgSsl = false | ConnectionOptions;

/**
 * node-postgres' `ssl` for the connection's sslmode, read the way libpq reads it. `ca` is the content
 * of sslrootcert (undefined: Node's own CA list). What pg does with the object (node_modules/pg/lib/
 * connection.js `upgradeToSSL`): it is merged into the options of tls.connect, together with `host`,
 * and `servername` is set to the host unless that is an IP address (SNI forbids IPs); tls.connect checks
 * the certificate against servername, else host, so the hostname check of verify-full needs nothing
 * more here. allow and prefer try the other way when the first is refused for its TLS, as libpq does.
 */
export function nodePgSsl(
  connection: PgConnection,
  ca: string | undefined,
): { first: NodePgSsl; otherwise?: NodePgSsl } {
  const trusted: ConnectionOptions = { rejectUnauthorized: true, ...(ca === undefined ? {} : { ca }) };
  const chainOnly: ConnectionOptions = { ...trusted, checkServerIdentity: () => undefined };
  // libpq verifies the chain (not the name) in every mode once it has a root certificate.
  const encrypted = connection.sslrootcert === undefined ? { rejectUnauthorized: false } : chainOnly;
  switch (connection.sslmode) {
    case undefined:
    case 'disable':
      return { first: false };
    case 'allow':
      return { first: false, otherwise: encrypted };
    case 'prefer':
      return { first: encrypted, otherwise: false };
    case 'require':
      return { first: encrypted };
    case 'verify-ca':
      return { first: chainOnly };
    case 'verify-full':
      return { first: trusted };
  }
}

/** OpenSSL's verification verdicts as Node names them, and Node's own hostname check. */
const certificateErrorCodes = new Set([
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_DECRYPT_CERT_SIGNATURE',
  'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY',
  'CERT_SIGNATURE_FAILURE',
  'CERT_NOT_YET_VALID',
  'CERT_HAS_EXPIRED',
  'CERT_REVOKED',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_CHAIN_TOO_LONG',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'INVALID_CA',
  'INVALID_PURPOSE',
  'PATH_LENGTH_EXCEEDED',
  'HOSTNAME_MISMATCH',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

type TlsFailure = 'required' | 'unavailable' | 'certificate';

function tlsError(failure: TlsFailure, connection: PgConnection, said: string, cause?: unknown): BackupError {
  const where = describeConnection(connection);
  const mode = `sslmode=${connection.sslmode ?? 'prefer (the default)'}`;
  const options = cause === undefined ? {} : { cause };
  const details = { sslmode: connection.sslmode ?? null };
  if (failure === 'required') {
    return new DatabaseTlsRequiredError(
      `${where} accepts only encrypted connections and this one had no TLS (${mode}): ${said}. ` +
        'The password is not at fault. Remove sslmode from the connection string (TLS is then the ' +
        'default) or set sslmode=verify-full or sslmode=require',
      { ...options, details },
    );
  }
  if (failure === 'unavailable') {
    return new DatabaseTlsUnavailableError(
      `${where} does not offer TLS and ${mode} requires it (a connection string without sslmode ` +
        `requires TLS to any host but localhost): ${said}. Enable TLS on the server, or, on a private ` +
        'network only, set sslmode=disable explicitly',
      { ...options, details },
    );
  }
  const ca = connection.sslrootcert === undefined ? "Node's CA list" : connection.sslrootcert;
  return new DatabaseCertificateError(
    `${where} presented a TLS certificate that does not verify (${mode}, CA ${ca}): ${said}. Set ` +
      'sslrootcert to the CA certificate your provider publishes, or sslmode=require to encrypt without ' +
      'authenticating the server',
    { ...options, details: { ...details, sslrootcert: connection.sslrootcert ?? null } },
  );
}

/** A node-postgres connection failure that is a TLS verdict, as its named error; else undefined. */
export function tlsErrorOf(error: unknown, connection: PgConnection): BackupError | undefined {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  const said = describeError(error);
  // pg_hba.conf rejects (or has no line for) a connection, "no encryption": a hostssl-only server.
  if (code === '28000' && typeof message === 'string' && message.includes('no encryption'))
    return tlsError('required', connection, said, error);
  // The server answered the SSLRequest with 'N' (node_modules/pg/lib/connection.js).
  if (message === 'The server does not support SSL connections')
    return tlsError('unavailable', connection, said, error);
  if (typeof code === 'string' && certificateErrorCodes.has(code))
    return tlsError('certificate', connection, said, error);
  return undefined;
}

/** libpq's words for the same verdicts, as pg_dump and pg_restore print them on stderr. */
const libpqFailures: [RegExp, TlsFailure][] = [
  [/pg_hba\.conf .*no encryption/, 'required'],
  [/server does not support SSL, but SSL was required/, 'unavailable'],
  [/certificate verify failed/, 'certificate'],
  [/server certificate for .* does not match host name/, 'certificate'],
  [/could not get server's host name from server certificate/, 'certificate'],
  [/root certificate file .* does not exist/, 'certificate'],
];

/** A program that could not connect for TLS reasons (its last stderr lines), as the named error. */
export function libpqTlsError(lines: readonly string[], connection: PgConnection): BackupError | undefined {
  for (const line of lines) {
    const failure = libpqFailures.find(([pattern]) => pattern.test(line))?.[1];
    if (failure) return tlsError(failure, connection, describeError(line));
  }
  return undefined;
}
