/**
 * Sanity checks prove a restored database is usable, not just complete: each is one SQL query that
 * returns a single number, and an expectation on it (e.g. at least one order in the last two days).
 * They are configured as JSON in DRILL_SANITY_CHECKS:
 *
 *   [{"name": "recent orders", "sql": "SELECT count(*) FROM orders WHERE ordered_at > now() - interval '2 days'", "atLeast": 1}]
 *
 * Results are data: a query that fails or misses its expectation is a failed check, recorded with the
 * evidence. Queries run read-only with a statement timeout, so a check cannot change the drill database
 * or hang the drill.
 */
import { z } from 'zod';
import { ConfigurationError, describeError } from '../errors.ts';
import type { Session } from '../pg/session.ts';

const sanityCheckSchema = z
  .strictObject({
    name: z.string().trim().min(1).max(100),
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

/** Without configuration a drill still checks that the restored database holds tables. */
export const defaultSanityChecks: SanityCheck[] = [
  {
    name: 'restored database has tables',
    sql: `SELECT count(*) FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
           WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')`,
    atLeast: 1,
  },
];

export interface SanityResult {
  name: string;
  sql: string;
  expectation: string;
  value: number | null;
  passed: boolean;
  error?: string;
}

export function parseSanityChecks(text: string | undefined, field = 'DRILL_SANITY_CHECKS'): SanityCheck[] {
  if (text === undefined) return defaultSanityChecks;
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
