/**
 * The embedded server's start when its port is taken between picking and binding: many test files
 * start servers and open connections at once, and freePort() cannot reserve what it found.
 */
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
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

  it('fails with the server log when a port given explicitly is taken', async () => {
    await expect(startPostgresServer({ dataDir: join(dir, 'fixed'), port: taken })).rejects.toThrow(
      /could not bind|could not create any TCP\/IP sockets/,
    );
  });
});
