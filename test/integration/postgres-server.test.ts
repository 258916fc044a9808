/**
 * The embedded server's start when its port is taken between picking and binding: many test files
 * start servers and open connections at once, and freePort() cannot reserve what it found.
 */
import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { parseConnectionUrl } from '../../lib/pg/connection.ts';
import { withSession } from '../../lib/pg/session.ts';
import { freePort, startPostgresServer } from '../../tools/local/postgres-server.ts';

let dir: string;
let squatter: Server;
let taken: number;
const sockets: Socket[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'postgres-server-'));
  await chmod(dir, 0o755);
  // Accepts connections and never answers, like a port held by something that is not PostgreSQL.
  squatter = createServer((socket) => sockets.push(socket));
  await new Promise<void>((listening) => squatter.listen(0, '127.0.0.1', listening));
  taken = (squatter.address() as { port: number }).port;
});

afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  await new Promise((closed) => squatter.close(closed));
  await rm(dir, { recursive: true, force: true });
});

describe('startPostgresServer()', () => {
  it('picks another port when the one it picked was taken before the server could bind it', async () => {
    const picked: number[] = [];
    const server = await startPostgresServer({
      dataDir: join(dir, 'retry'),
      pickPort: async () => {
        const port = picked.length === 0 ? taken : await freePort();
        picked.push(port);
        return port;
      },
    });
    try {
      expect(picked[0]).toBe(taken);
      expect(picked).toHaveLength(2);
      expect(server.port).toBe(picked[1]);
      expect(server.port).not.toBe(taken);
    } finally {
      await server.stop();
    }
  });

  it('keeps its data under a private directory (mode 0700) the server user cannot enter, across restarts', async () => {
    // What `npm run demo` does from a checkout in /root as root: .local/pg/production inside it.
    const hidden = await mkdtemp(join(tmpdir(), 'private-checkout-'));
    const dataDir = join(hidden, '.local', 'pg', 'production');
    try {
      const first = await startPostgresServer({ dataDir });
      try {
        await withSession(parseConnectionUrl(first.url(), 'private'), (session) =>
          session.query('CREATE TABLE kept (n int)'),
        );
      } finally {
        await first.stop();
      }
      // The same directory names the same cluster on the next start.
      const second = await startPostgresServer({ dataDir });
      try {
        const { rows } = await withSession(parseConnectionUrl(second.url(), 'private'), (session) =>
          session.query<{ n: string }>('SELECT count(*)::text AS n FROM kept'),
        );
        expect(rows).toEqual([{ n: '0' }]);
      } finally {
        await second.stop();
      }
    } finally {
      // As root the data went under the temp directory; the note left in dataDir says where.
      const note = await readFile(join(dataDir, 'WHERE-THE-DATA-IS.txt'), 'utf8').catch(() => '');
      const relocated = /lives in (\S+)/.exec(note)?.[1];
      if (relocated) await rm(relocated, { recursive: true, force: true });
      await rm(hidden, { recursive: true, force: true });
    }
  });

  it('fails with the server log when a port given explicitly is taken', async () => {
    await expect(startPostgresServer({ dataDir: join(dir, 'fixed'), port: taken })).rejects.toThrow(
      /could not bind|could not create any TCP\/IP sockets/,
    );
  });
});
