/** Test helpers for talking to a local server as a given role, one statement after another. */
import { parseConnectionUrl } from '../../lib/pg/connection.ts';
import { withSession } from '../../lib/pg/session.ts';
import type { PostgresServer } from '../../tools/local/postgres-server.ts';

/** `server`'s URL for `database`, logging in as `user` with `password`. */
export function urlAs(server: PostgresServer, user: string, password: string, database: string): string {
  const url = new URL(server.url(database));
  url.username = user;
  url.password = password;
  return url.toString();
}

/** Runs `statements` in order on one session; each statement's rows, in order. */
export async function sql(url: string, ...statements: string[]): Promise<Record<string, unknown>[][]> {
  return withSession(parseConnectionUrl(url, 'test'), async (session) => {
    const results = [];
    for (const statement of statements) results.push((await session.query(statement)).rows);
    return results;
  });
}
