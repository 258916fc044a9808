/**
 * A real HTTPS endpoint standing in for Slack, a generic webhook, a healthchecks.io check and Render's
 * API: it records every request and answers with `status`, or with what `respond` returns. Its certificate is made by openssl for 127.0.0.1
 * and trusted by this process only while the receiver runs (tls.setDefaultCACertificates), so the
 * product's plain `fetch` and its https-only URL checks are exercised unchanged.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';

export interface ReceivedRequest {
  method: string;
  path: string;
  body: string;
  /** The Authorization header, when one was sent. */
  authorization?: string;
}

export interface Reply {
  status: number;
  headers?: Record<string, string>;
  body?: string | Buffer;
}

export interface HttpsReceiver {
  url(path: string): string;
  requests: ReceivedRequest[];
  /** The HTTP status every request gets (200 unless a test sets another). */
  status: number;
  /** Answers a request itself, e.g. like an API; `status` is the answer when it is unset. */
  respond?: (request: ReceivedRequest) => Reply;
  /**
   * The certificate's PEM file, for a child process to trust (NODE_EXTRA_CA_CERTS): the trust above
   * is this process's only. Removed by `stop`.
   */
  certificateFile: string;
  stop(): Promise<void>;
}

export async function startHttpsReceiver(): Promise<HttpsReceiver> {
  const dir = await mkdtemp(join(tmpdir(), 'https-receiver-'));
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '2',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-keyout',
      join(dir, 'key.pem'),
      '-out',
      join(dir, 'cert.pem'),
    ],
    { stdio: 'ignore' },
  );
  const cert = await readFile(join(dir, 'cert.pem'), 'utf8');
  const key = await readFile(join(dir, 'key.pem'), 'utf8');
  const trusted = tls.getCACertificates('default');
  tls.setDefaultCACertificates([...trusted, cert]);

  const receiver: { requests: ReceivedRequest[]; status: number; respond?: (r: ReceivedRequest) => Reply } = {
    requests: [],
    status: 200,
  };
  const server: Server = createServer({ cert, key }, (request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => {
      body += chunk.toString();
    });
    request.on('end', () => {
      const received: ReceivedRequest = { method: request.method ?? '', path: request.url ?? '', body };
      if (request.headers.authorization) received.authorization = request.headers.authorization;
      receiver.requests.push(received);
      const reply = receiver.respond?.(received) ?? { status: receiver.status };
      response.writeHead(reply.status, reply.headers).end(reply.body);
    });
  });
  await new Promise<void>((listening) => server.listen(0, '127.0.0.1', listening));
  const { port } = server.address() as AddressInfo;
  return Object.assign(receiver, {
    url: (path: string) => `https://127.0.0.1:${port}${path}`,
    certificateFile: join(dir, 'cert.pem'),
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((closed) => server.close(() => closed()));
      tls.setDefaultCACertificates(trusted);
      await rm(dir, { recursive: true, force: true });
    },
  });
}
