/**
 * Whether the connected role may read, in full, every table and sequence pg_dump reads. One query for
 * `backupctl check` and the Dump step, so the nightly names the same tables and the same fix as the
 * check run before it.
 */
import { quoteIdentifier, type Session } from './session.ts';
import { dumpedRelationsFilter } from './tables.ts';

/**
 * `readable`: SELECT on the whole table (a column-level grant is not enough: pg_dump locks and copies the
 * table). `row_security`: a policy would apply to the role (FORCE ROW LEVEL SECURITY, or RLS on a table
 * it does not own) and it has no BYPASSRLS; pg_dump runs with row_security=off, so that table fails the
 * dump instead of dumping only the rows a policy shows. A superuser bypasses both. "Own" as PostgreSQL
 * decides it for row security: the owner or a role that inherits the owner's privileges
 * (`pg_has_role(owner, 'USAGE')`; on 16+ a membership granted WITH INHERIT FALSE is not).
 */
const relationAccessSql = `
  SELECT n.nspname AS schema, c.relname AS name, c.relkind AS kind,
         CASE WHEN c.relkind = 'S' THEN has_sequence_privilege(c.oid, 'SELECT')
              ELSE has_table_privilege(c.oid, 'SELECT') END AS readable,
         (c.relkind <> 'S' AND c.relrowsecurity
           AND (c.relforcerowsecurity OR NOT pg_catalog.pg_has_role(c.relowner, 'USAGE'))
           AND NOT (SELECT rolbypassrls OR rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user)) AS row_security
    FROM pg_catalog.pg_class c
    JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
   WHERE c.relkind IN ('r', 'S')
     AND ${dumpedRelationsFilter}
   ORDER BY 1, 2`;

export interface RelationName {
  schema: string;
  name: string;
}

export interface RelationAccess {
  /** How many tables and sequences pg_dump reads. */
  relations: number;
  /** Quoted `schema.name` of those the role may not SELECT. */
  unreadable: string[];
  /** Quoted `schema.name` of readable tables whose rows a policy would filter for the role. */
  rowSecurity: string[];
  /** The relations of `unreadable`, then those of `rowSecurity`, as names to build statements from. */
  refused: (RelationName & { sequence: boolean; readable: boolean })[];
}

interface RelationRow {
  schema: string;
  name: string;
  kind: string;
  readable: boolean;
  row_security: boolean;
}

export async function readRelationAccess(session: Session): Promise<RelationAccess> {
  const { rows } = await session.query<RelationRow>(relationAccessSql);
  const unreadable = rows.filter((r) => !r.readable);
  const filtered = rows.filter((r) => r.readable && r.row_security);
  const name = (r: RelationRow) => `${quoteIdentifier(r.schema)}.${quoteIdentifier(r.name)}`;
  return {
    relations: rows.length,
    unreadable: unreadable.map(name),
    rowSecurity: filtered.map(name),
    refused: [...unreadable, ...filtered].map((r) => ({
      schema: r.schema,
      name: r.name,
      sequence: r.kind === 'S',
      readable: r.readable,
    })),
  };
}

/**
 * PostgreSQL's own refusal for the first relation `access` names, in the words pg_dump would have
 * printed: its LOCK TABLE (a table), its read of a sequence, or its COPY under row_security=off (row
 * security). Run in the transaction that found them, which the refusal aborts; undefined if the server
 * did not refuse after all.
 */
export async function serverRefusal(session: Session, access: RelationAccess): Promise<string | undefined> {
  const [first] = access.refused;
  if (!first) return undefined;
  const relation = `${quoteIdentifier(first.schema)}.${quoteIdentifier(first.name)}`;
  const probe = first.readable
    ? `SELECT 1 FROM ONLY ${relation} LIMIT 0`
    : first.sequence
      ? `SELECT last_value FROM ${relation}`
      : `LOCK TABLE ONLY ${relation} IN ACCESS SHARE MODE`;
  try {
    await session.query(probe);
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

/** What to run so `user` may read `relations`: one GRANT each, or a placeholder when there are many. */
export function grantFix(user: string, relations: readonly RelationName[] = []): string {
  if (relations.length === 0 || relations.length > 10) {
    return `GRANT SELECT ON <table> TO ${quoteIdentifier(user)} (as the owner), or back up as the owner`;
  }
  const grants = relations.map(
    (r) =>
      `GRANT SELECT ON ${quoteIdentifier(r.schema)}.${quoteIdentifier(r.name)} TO ${quoteIdentifier(user)};`,
  );
  return `as the owner: ${grants.join(' ')} or back up as the owner`;
}

export const rowSecurityFix =
  "back up as the tables' owner (without FORCE ROW LEVEL SECURITY), or give the role BYPASSRLS (the provider's admin role can)";
