/**
 * Sanity checks prove a restored database is usable, not just complete: each is one SQL query that
 * returns a single number, and an expectation on it (e.g. at least one order in the last two days).
 * They are configured as JSON in DRILL_SANITY_CHECKS, each for the database it names:
 *
 *   [{"name": "recent orders", "database": "shop", "sql": "SELECT count(*) FROM orders WHERE ordered_at > now() - interval '2 days'", "atLeast": 1}]
 *
 * Which database a check applies to (`sanityChecksFor`): the one its `database` names; without
 * `database`, the one database a stage backs up (DATABASES `url` or a list of one). A stage that backs
 * up several (`all`, or a list of more) must name the database of every check: a check written for
 * the shop's `orders` must not fail the drill of `postgres`. A drilled database no configured check
 * applies to gets the built-in check: it holds exactly the tables its manifest lists.
 *
 * Results are data: a query that fails or misses its expectation is a failed check, recorded with the
 * evidence. Queries run read-only with a statement timeout, so a check cannot change the drill database
 * or hang the drill.
 */
import { z } from 'zod';
import type { RuntimeSettings } from '../config.ts';
import { ConfigurationError, describeError } from '../errors.ts';
import type { Session } from '../pg/session.ts';
import { dumpedRelationsFilter } from '../pg/tables.ts';
import { databaseNameSchema } from '../schemas.ts';

const sanityCheckSchema = z
  .strictObject({
    name: z.string().trim().min(1).max(100),
    /** The database this check is for; optional only where the stage backs up one database. */
    database: databaseNameSchema.optional(),
    sql: z.string().trim().min(1).max(10_000),
    atLeast: z.number().optional(),
    atMost: z.number().optional(),
    equals: z.number().optional(),
  })
  .refine(
    (check) => check.atLeast !== undefined || check.atMost !== undefined || check.equals !== undefined,
    { message: 'needs an expectation: atLeast, atMost or equals', path: ['atLeast'] },
  );
export type SanityCheck = z.infer<typeof sanityCheckSchema>;

const sanityChecksSchema = z.array(sanityCheckSchema).max(50);

/** Tables of the restored database, counted as the manifest lists them (lib/pg/row-counts.ts). */
const restoredTablesSql = `SELECT count(*) FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind = 'r' AND ${dumpedRelationsFilter}`;

/**
 * The check a drill runs where no configured check is for the database: it holds exactly the tables its
 * manifest lists. An empty database (the server's `postgres`, mostly) passes with 0 and says so; one
 * that lost its tables in the restore still fails.
 */
export function builtInSanityChecks(manifestTables: number): SanityCheck[] {
  const name =
    manifestTables === 0
      ? 'restored database is empty, as its manifest lists no tables'
      : `restored database has the ${manifestTables} table${manifestTables === 1 ? '' : 's'} its manifest lists`;
  return [{ name, sql: restoredTablesSql, equals: manifestTables }];
}

export interface SanityResult {
  name: string;
  sql: string;
  expectation: string;
  value: number | null;
  passed: boolean;
  error?: string;
}

/** The configured checks (none when `text` is unset), validated; a fault names its field. */
export function parseSanityChecks(text: string | undefined, field = 'DRILL_SANITY_CHECKS'): SanityCheck[] {
  if (text === undefined) return [];
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new ConfigurationError(`${field} is not valid JSON`, { details: { field } });
  }
  const result = sanityChecksSchema.safeParse(json);
  if (!result.success) {
    const issue = result.error.issues[0];
    const keysIssue = issue && 'keys' in issue ? (issue.keys as string[]) : [];
    const path = [...(issue?.path ?? []), ...keysIssue]
      .map((part) => (typeof part === 'number' ? `[${part}]` : `.${String(part)}`))
      .join('');
    throw new ConfigurationError(`${field}${path} ${issue?.message ?? 'is invalid'}`, {
      details: { field: `${field}${path}` },
    });
  }
  return result.data;
}

/**
 * Why `checks` do not fit the databases a stage backs up, or undefined: a check without `database`
 * where several are backed up (which one would it check?), and with `unused`, a check naming a
 * database the stage does not back up (it would never run: a typo, caught at package time; a drill
 * only skips it, as the bucket may still hold that database's vault). `field` names the list in the
 * message (DRILL_SANITY_CHECKS, or drill.sanityChecks in the stage config).
 */
export function sanityChecksProblem(
  checks: readonly SanityCheck[],
  backedUp: RuntimeSettings['DATABASES'],
  options: { field: string; unused?: { excluded: readonly string[] } },
): { field: string; message: string } | undefined {
  const { field } = options;
  const excluded = options.unused?.excluded ?? [];
  const several = backedUp === 'all' || (typeof backedUp !== 'string' && backedUp.length > 1);
  const which = typeof backedUp === 'string' ? backedUp : backedUp.join(', ');
  for (const [index, check] of checks.entries()) {
    const at = `${field}[${index}].database`;
    if (check.database === undefined) {
      if (several) {
        return {
          field: at,
          message: `is missing: sanity check "${check.name}" must name the database it checks, as this stage backs up several (${which})`,
        };
      }
      continue;
    }
    if (!options.unused) continue;
    const listed = backedUp === 'url' || backedUp === 'all' || backedUp.includes(check.database);
    if (!listed || excluded.includes(check.database)) {
      return {
        field: at,
        message: `names database "${check.database}", which this stage does not back up (${which}${excluded.length ? `, excluding ${excluded.join(', ')}` : ''}): sanity check "${check.name}" would never run`,
      };
    }
  }
  return undefined;
}

/**
 * The checks a drill of `drilled` runs: the configured ones that apply to it (see the top of this
 * file), or, where none does, the built-in check against its manifest's table count. A configuration
 * that does not fit the stage's databases is a ConfigurationError naming the check.
 */
export function sanityChecksFor(
  configured: readonly SanityCheck[],
  /** `urlDatabase`: it is the connection URL's database (the top-level vault). */
  drilled: { database: string; urlDatabase: boolean },
  settings: Pick<RuntimeSettings, 'DATABASES'>,
  manifestTables: number,
): SanityCheck[] {
  const problem = sanityChecksProblem(configured, settings.DATABASES, { field: 'DRILL_SANITY_CHECKS' });
  if (problem) {
    throw new ConfigurationError(`${problem.field} ${problem.message}`, {
      details: { field: problem.field },
    });
  }
  const backedUp = settings.DATABASES;
  // Without `database`, a check is for the stage's one database (several were refused above).
  const theOne =
    backedUp === 'url' ? drilled.urlDatabase : backedUp !== 'all' && backedUp[0] === drilled.database;
  const applying = configured.filter((check) =>
    check.database === undefined ? theOne : check.database === drilled.database,
  );
  return applying.length > 0 ? applying : builtInSanityChecks(manifestTables);
}

export function describeExpectation(check: SanityCheck): string {
  const parts: string[] = [];
  if (check.equals !== undefined) parts.push(`= ${check.equals}`);
  if (check.atLeast !== undefined) parts.push(`>= ${check.atLeast}`);
  if (check.atMost !== undefined) parts.push(`<= ${check.atMost}`);
  return parts.join(' and ');
}

function meets(check: SanityCheck, value: number): boolean {
  if (check.equals !== undefined && value !== check.equals) return false;
  if (check.atLeast !== undefined && value < check.atLeast) return false;
  if (check.atMost !== undefined && value > check.atMost) return false;
  return true;
}

export async function runSanityChecks(
  session: Session,
  checks: SanityCheck[],
  options: { statementTimeoutMs?: number } = {},
): Promise<SanityResult[]> {
  const results: SanityResult[] = [];
  for (const check of checks) {
    const base = { name: check.name, sql: check.sql, expectation: describeExpectation(check) };
    try {
      await session.query('BEGIN READ ONLY');
      await session.query(
        `SET LOCAL statement_timeout = ${Math.trunc(options.statementTimeoutMs ?? 60_000)}`,
      );
      const { rows, fields } = await session.query(check.sql);
      await session.query('ROLLBACK');
      const column = fields[0]?.name;
      const raw = rows.length === 1 && column !== undefined ? rows[0][column] : undefined;
      const value = raw === null || raw === undefined ? Number.NaN : Number(raw);
      if (rows.length !== 1 || fields.length !== 1 || !Number.isFinite(value)) {
        results.push({
          ...base,
          value: null,
          passed: false,
          error: `must return one row with one number; returned ${rows.length} row(s), ${fields.length} column(s)`,
        });
        continue;
      }
      results.push({ ...base, value, passed: meets(check, value) });
    } catch (error) {
      await session.query('ROLLBACK').catch(() => undefined);
      results.push({ ...base, value: null, passed: false, error: describeError(error) });
    }
  }
  return results;
}
