/**
 * Who owns each schema and relation pg_dump writes, and who was granted what on it: recorded in the
 * dump's snapshot (the manifest's `ownership`) and read again after a restore with roles, so owners
 * and grants are checked in the catalog instead of assumed.
 *
 * ACLs are compared by what they grant, never as text, because the same grants read differently across
 * majors and restores: a restore may list them in another order; an ACL left at its default (NULL)
 * means the owner's full rights, which a restore may spell out; and PostgreSQL 17 added MAINTAIN (`m`),
 * which a 17+ server gives every table's owner (and `GRANT ALL`) by itself, so production 15 restored
 * on 18 reads `arwdDxtm` where production had `arwdDxt`. So each ACL becomes the set of (grantee,
 * grantor, privilege, grant option) it grants, the default expanded for the server that holds it, and
 * privileges the source's major does not have are left out of both sides. Anything else that differs
 * (a grant missing, added, with or without grant option, by another grantor) is a difference.
 */
import { quoteIdentifier, type Session } from './session.ts';
import { dumpedRelationsFilter } from './tables.ts';

export interface Ownership {
  /** `schema` for a schema, else pg_class.relkind: r, p (partitioned), v, m, S (sequence), f. */
  kind: string;
  schema: string;
  /** The relation's name; empty for a schema. */
  name: string;
  owner: string;
  acl: string | null;
}

const ownershipSql = `
  SELECT 'schema' AS kind, n.nspname AS schema, '' AS name,
         pg_catalog.pg_get_userbyid(n.nspowner) AS owner, n.nspacl::text AS acl
    FROM pg_catalog.pg_namespace n
   WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
     AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'
     AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                      WHERE d.classid = 'pg_catalog.pg_namespace'::regclass AND d.objid = n.oid AND d.deptype = 'e')
  UNION ALL
  SELECT c.relkind::text, n.nspname, c.relname,
         pg_catalog.pg_get_userbyid(c.relowner), c.relacl::text
    FROM pg_catalog.pg_class c
    JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
   WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
     AND ${dumpedRelationsFilter}
   ORDER BY 2, 3, 1`;

export async function readOwnership(session: Session): Promise<Ownership[]> {
  const { rows } = await session.query<Ownership>(ownershipSql);
  return rows;
}

/** One aclitem: `grantee=privileges/grantor`; an empty grantee is PUBLIC. */
interface AclItem {
  grantee: string;
  privileges: string;
  grantor: string;
}

/** A role name as aclitem writes it: double-quoted, quotes doubled, unless plain. */
function aclName(text: string, at: number): { name: string; end: number } {
  if (text[at] !== '"') {
    let end = at;
    while (end < text.length && text[end] !== '=' && text[end] !== '/') end++;
    return { name: text.slice(at, end), end };
  }
  let name = '';
  let i = at + 1;
  while (i < text.length) {
    if (text[i] === '"' && text[i + 1] === '"') {
      name += '"';
      i += 2;
    } else if (text[i] === '"') {
      return { name, end: i + 1 };
    } else name += text[i++];
  }
  throw new Error(`unterminated role name in aclitem ${text}`);
}

function parseAclItem(text: string): AclItem {
  const grantee = aclName(text, 0);
  const slash = text.indexOf('/', grantee.end);
  if (text[grantee.end] !== '=' || slash < 0) throw new Error(`not an aclitem: ${text}`);
  return {
    grantee: grantee.name,
    privileges: text.slice(grantee.end + 1, slash),
    grantor: aclName(text, slash + 1).name,
  };
}

/** The items of an aclitem[] in its text form; an element with special characters is double-quoted. */
export function parseAcl(acl: string): AclItem[] {
  const body = acl.replace(/^\{/, '').replace(/\}$/, '');
  const items: string[] = [];
  let i = 0;
  while (i < body.length) {
    let item = '';
    if (body[i] === '"') {
      i++;
      while (i < body.length && body[i] !== '"') {
        if (body[i] === '\\') i++;
        item += body[i++] ?? '';
      }
      i++;
    } else {
      while (i < body.length && body[i] !== ',') item += body[i++];
    }
    items.push(item);
    i++; // the comma
  }
  return items.filter(Boolean).map(parseAclItem);
}

/** Which server_version_num introduced a privilege letter; absent: every major we restore has it. */
const privilegeSince: Record<string, number> = { m: 170000 };

/** What the owner holds while an ACL is NULL (acldefault): every privilege the kind of object has. */
function ownerDefault(kind: string, serverVersionNum: number): string {
  if (kind === 'schema') return 'UC';
  if (kind === 'S') return 'rwU';
  return serverVersionNum >= (privilegeSince.m ?? 0) ? 'arwdDxtm' : 'arwdDxt';
}

/** Each privilege an ACL grants, as `grantee/grantor/letter[*]`, only the source's major's privileges. */
function grantsOf(o: Ownership, serverVersionNum: number, sourceVersionNum: number): Set<string> {
  const items: AclItem[] =
    o.acl === null
      ? [{ grantee: o.owner, privileges: ownerDefault(o.kind, serverVersionNum), grantor: o.owner }]
      : parseAcl(o.acl);
  const grants = new Set<string>();
  for (const item of items) {
    for (const [, letter, option] of item.privileges.matchAll(/([A-Za-z])(\*?)/g)) {
      if ((privilegeSince[letter ?? ''] ?? 0) > sourceVersionNum) continue;
      grants.add(JSON.stringify([item.grantee, item.grantor, `${letter}${option}`]));
    }
  }
  return grants;
}

const sameGrants = (a: Set<string>, b: Set<string>) => a.size === b.size && [...a].every((g) => b.has(g));

const label = (o: Ownership) => (o.kind === 'schema' ? `schema ${o.schema}` : `${o.schema}.${o.name}`);

/** The server_version_num of the recorded (source) server and of the restored (target) one. */
export interface OwnershipVersions {
  source: number;
  target: number;
}

/** What differs between the recorded owners and grants and a restored database's, one line each. */
export function compareOwnership(
  expected: readonly Ownership[],
  actual: readonly Ownership[],
  versions: OwnershipVersions,
): string[] {
  const restored = new Map(actual.map((o) => [`${o.kind}/${o.schema}/${o.name}`, o]));
  const differences: string[] = [];
  for (const want of expected) {
    const got = restored.get(`${want.kind}/${want.schema}/${want.name}`);
    if (!got) differences.push(`${label(want)}: missing`);
    else if (got.owner !== want.owner)
      differences.push(`${label(want)}: owner ${got.owner}, expected ${want.owner}`);
    else if (
      !sameGrants(
        grantsOf(got, versions.target, versions.source),
        grantsOf(want, versions.source, versions.source),
      )
    ) {
      differences.push(`${label(want)}: grants ${got.acl ?? 'default'}, expected ${want.acl ?? 'default'}`);
    }
  }
  return differences;
}

const alterKeywords = {
  r: 'TABLE',
  p: 'TABLE',
  f: 'FOREIGN TABLE',
  v: 'VIEW',
  m: 'MATERIALIZED VIEW',
  S: 'SEQUENCE',
} as const;

const alterKeyword = (kind: string) =>
  kind in alterKeywords ? alterKeywords[kind as keyof typeof alterKeywords] : 'TABLE';

/** Relations first (tables before what hangs off them), schemas last, while the restorer owns them. */
const order = ['r', 'p', 'f', 'v', 'm', 'S', 'schema'];

const hasCreate = (acl: string | null, role: string) =>
  acl !== null && parseAcl(acl).some((item) => item.grantee === role && item.privileges.includes('C'));

/**
 * Gives restored objects the owners the manifest recorded, as a user who is no superuser can: after a
 * restore without owners (everything is the restorer's, grants included), each relation and then each
 * schema is handed to its recorded owner. ALTER ... OWNER rewrites the grants the restorer made into the
 * new owner's, so they come out as production had them. A new owner needs CREATE on the schema: where
 * the restored grants do not give it, it is granted for the change and revoked after. Returns what the
 * target refused; the caller's ownership check says what that left different.
 */
export async function applyOwnership(session: Session, recorded: readonly Ownership[]): Promise<string[]> {
  const refused: string[] = [];
  const current = new Map((await readOwnership(session)).map((o) => [`${o.kind}/${o.schema}/${o.name}`, o]));
  const schemaAcl = (schema: string) => current.get(`schema/${schema}/`)?.acl ?? null;
  const temporary: { schema: string; role: string }[] = [];
  const wanted = [...recorded].sort((a, b) => order.indexOf(a.kind) - order.indexOf(b.kind));
  const hand = async (want: Ownership) => {
    const now = current.get(`${want.kind}/${want.schema}/${want.name}`);
    if (!now || now.owner === want.owner) return;
    try {
      if (
        want.kind !== 'schema' &&
        !hasCreate(schemaAcl(want.schema), want.owner) &&
        !temporary.some((t) => t.schema === want.schema && t.role === want.owner)
      ) {
        await session.query(
          `GRANT CREATE ON SCHEMA ${quoteIdentifier(want.schema)} TO ${quoteIdentifier(want.owner)}`,
        );
        temporary.push({ schema: want.schema, role: want.owner });
      }
      if (want.kind === 'schema') {
        await session.query(
          `ALTER SCHEMA ${quoteIdentifier(want.schema)} OWNER TO ${quoteIdentifier(want.owner)}`,
        );
      } else {
        await session.query(
          `ALTER ${alterKeyword(want.kind)} ${quoteIdentifier(want.schema)}.${quoteIdentifier(want.name)} OWNER TO ${quoteIdentifier(want.owner)}`,
        );
      }
    } catch (error) {
      refused.push(`${label(want)} could not be given to ${want.owner}: ${(error as Error).message}`);
    }
  };
  for (const want of wanted.filter((w) => w.kind !== 'schema')) await hand(want);
  // The temporary grants go while the restorer still owns the schemas; then the schemas change hands.
  for (const { schema, role } of temporary) {
    await session
      .query(`REVOKE CREATE ON SCHEMA ${quoteIdentifier(schema)} FROM ${quoteIdentifier(role)}`)
      .catch((error: Error) =>
        refused.push(`the temporary create right of ${role} on schema ${schema} stayed: ${error.message}`),
      );
  }
  for (const want of wanted.filter((w) => w.kind === 'schema')) await hand(want);
  return refused;
}
