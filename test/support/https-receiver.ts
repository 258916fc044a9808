/**
 * A real HTTPS endpoint standing in for Slack, a generic webhook and a healthchecks.io check: it
 * records every request and answers with `status`. Its certificate is made by openssl for 127.0.0.1
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
}

export interface HttpsReceiver {
  url(path: string): string;
  requests: ReceivedRequest[];
  /** The HTTP status every request gets (200 unless a test sets another). */
  status: number;
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

  const receiver = { requests: [] as ReceivedRequest[], status: 200 };
  const server: Server = createServer({ cert, key }, (request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => {
      body += chunk.toString();
    });
    request.on('end', () => {
      receiver.requests.push({ method: request.method ?? '', path: request.url ?? '', body });
      response.writeHead(receiver.status).end();
    });
  });
  await new Promise<void>((listening) => server.listen(0, '127.0.0.1', listening));
  const { port } = server.address() as AddressInfo;
  return Object.assign(receiver, {
    url: (path: string) => `https://127.0.0.1:${port}${path}`,
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((closed) => server.close(() => closed()));
      tls.setDefaultCACertificates(trusted);
      await rm(dir, { recursive: true, force: true });
    },
  });
}
