/**
 * Several databases in one bucket. The database the connection URL names keeps the bucket's top-level
 * layout (so a bucket written before a stage had several databases reads as before); every other
 * database gets a vault of its own, a `db=<name>` folder right under each top-level folder:
 *
 *   backups/2026/12/01/<id>.dump             the connection URL's database
 *   backups/db=queue/2026/12/01/<id>.dump    database "queue"
 *   incoming/db=queue/<id>.dump, status/db=queue/status.json, drills/db=queue/...
 *
 * The folder sits under the top-level one so that the lifecycle rules (incoming/, the expirable tag)
 * and the IAM grants per prefix (incoming/*, backups/*, status/*) cover every database unchanged. The
 * name is percent-encoded, so a database called "a/b" cannot reach into another folder.
 */
import { InputValidationError } from '../errors.ts';
import { isDatabaseName } from '../schemas.ts';

/** The top-level folders that hold one vault per database; worker/ results belong to executions. */
const scopedFolders = ['incoming', 'backups', 'status', 'drills'];
const marker = 'db=';
/** Where the vaults of other databases are listed from (one common prefix each). */
export const scopedListPrefix = `backups/${marker}`;

export function scopeSegment(scope: string): string {
  if (!isDatabaseName(scope)) {
    throw new InputValidationError('a database name has 1 to 63 bytes', { details: { field: 'database' } });
  }
  return `${marker}${encodeURIComponent(scope)}`;
}

function split(key: string): [string, string] | undefined {
  const slash = key.indexOf('/');
  if (slash < 0) return undefined;
  const folder = key.slice(0, slash);
  return scopedFolders.includes(folder) ? [folder, key.slice(slash + 1)] : undefined;
}

/** The bucket key of a vault key (`backups/...` of database "queue" -> `backups/db=queue/...`). */
export function scopeKey(key: string, scope: string | undefined): string {
  const parts = split(key);
  if (scope === undefined || !parts) return key;
  return `${parts[0]}/${scopeSegment(scope)}/${parts[1]}`;
}

/** The vault key of a bucket key, or undefined when the key is another database's. */
export function unscopeKey(key: string, scope: string | undefined): string | undefined {
  const parts = split(key);
  if (!parts) return key;
  const [folder, rest] = parts;
  if (scope === undefined) return rest.startsWith(marker) ? undefined : key;
  const own = `${scopeSegment(scope)}/`;
  return rest.startsWith(own) ? `${folder}/${rest.slice(own.length)}` : undefined;
}

/** The databases with a vault of their own, from keys listed under a scoped folder. */
export function scopesIn(keys: string[]): string[] {
  const found = new Set<string>();
  for (const key of keys) {
    const rest = split(key)?.[1];
    if (!rest?.startsWith(marker)) continue;
    const segment = rest.slice(marker.length, rest.indexOf('/') < 0 ? undefined : rest.indexOf('/'));
    try {
      found.add(decodeURIComponent(segment));
    } catch {
      // Not a folder this tool wrote: ignored.
    }
  }
  return [...found].sort();
}
