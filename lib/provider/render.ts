/**
 * Render's own backups, shown beside ours: the instance the key can read (`GET /v1/postgres/{id}`: its
 * plan and version), its point-in-time recovery (`GET /v1/postgres/{id}/recovery`: status and where the
 * window starts) and its newest logical export (`GET /v1/postgres/{id}/export`). Shapes from Render's
 * API reference (docs/render-api.md). Ours are the ones proven restorable; Render's are a second line,
 * and the status says when that line is down, shorter than the plan needs, or stale.
 *
 * The API key and the exports' download URLs (signed links) are never kept: only status, timestamps,
 * ids and the plan leave this module, and any text Render answers with is scrubbed of both.
 */
import { z } from 'zod';
import { ConfigurationError, describeError, type ErrorName, ProviderBackupError } from '../errors.ts';

export const renderApiUrl = 'https://api.render.com/v1';
export const postgresIdPattern = /^[a-zA-Z0-9_-]{1,64}$/;

/** What the plan promises of Render's line, when the stage config does not say (`render:` section). */
export const renderPlanDefaults = {
  /** Render keeps 7 days of point-in-time recovery on Professional workspaces and up (3 on Hobby). */
  minRecoveryDays: 7,
  /** A daily export, with two hours of grace for the one that runs late. */
  maxExportAgeHours: 26,
  /**
   * The second-line drill's allowance: row counts of Render's export may differ from our nearest
   * verified backup's by this percent of ours per hour between the two.
   */
  drillDriftPercentPerHour: 1,
} as const;

const instanceSchema = z.object({
  id: z.string().optional(),
  name: z.string().optional().catch(undefined),
  plan: z.string().optional().catch(undefined),
  version: z.string().optional().catch(undefined),
});
const recoverySchema = z.object({
  recoveryStatus: z.enum(['AVAILABLE', 'BACKUP_NOT_READY', 'NOT_AVAILABLE']),
  startsAt: z.iso.datetime({ offset: true }).optional(),
});
const exportsSchema = z.array(
  z.object({ id: z.string(), createdAt: z.iso.datetime({ offset: true }), url: z.string().optional() }),
);
const renderErrorSchema = z.object({ id: z.string().optional(), message: z.string().optional() });

/**
 * One thing wrong with Render's line, by the catalog name its alert carries. `recovery-window` and
 * `export-stale` are states that last for days: they are alerted when they start, not on every run.
 */
export type ProviderFindingKind =
  | 'configuration'
  | 'check-failed'
  | 'recovery-unavailable'
  | 'recovery-window'
  | 'export-stale';

export interface ProviderFinding {
  kind: ProviderFindingKind;
  error: Extract<
    ErrorName,
    'ConfigurationError' | 'ProviderBackupError' | 'ProviderRecoveryWindowError' | 'ProviderExportStaleError'
  >;
  /** In words an on-call engineer can act on (never the key or a URL). */
  message: string;
}

export interface ProviderStatus {
  provider: 'render';
  postgresId: string;
  checkedAt: string;
  /** What the key could read of the instance; null when it could not. */
  instance: { name: string | null; plan: string | null; version: string | null } | null;
  /** AVAILABLE | BACKUP_NOT_READY | NOT_AVAILABLE, or null when the check itself failed. */
  recoveryStatus: z.infer<typeof recoverySchema>['recoveryStatus'] | null;
  /** The earliest point in time Render can recover to. */
  recoveryWindowStartsAt: string | null;
  /** Days from that point to the check, to a tenth of a day; null when unknown. */
  recoveryWindowDays: number | null;
  minRecoveryDays: number;
  newestExport: { id: string; createdAt: string; ageHours: number } | null;
  maxExportAgeHours: number;
  ok: boolean;
  /** The findings' messages in one line; null when ok. */
  problem: string | null;
  findings: ProviderFinding[];
}

/** Retries for a fault that may pass (the API unreachable, 429, 5xx): bounded, with growing pauses. */
export interface RetryPolicy {
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export const defaultRenderRetry: RetryPolicy = { attempts: 4, baseDelayMs: 500, maxDelayMs: 8_000 };

export interface RenderCheckOptions {
  apiKey: string;
  postgresId: string;
  baseUrl?: string;
  now: Date;
  minRecoveryDays?: number;
  maxExportAgeHours?: number;
  fetch?: typeof fetch;
  timeoutMs?: number;
  retry?: RetryPolicy;
  /** Waits between attempts (tests pass a policy with tiny pauses, not their own clock). */
  pause?: (ms: number) => Promise<void>;
}

const retriedStatuses = new Set([429, 500, 502, 503, 504]);

/** Removes the key and any URL (a signed export link could be quoted back) from text Render sent. */
function scrub(text: string, apiKey: string): string {
  const withoutKey = apiKey ? text.replaceAll(apiKey, '***') : text;
  return withoutKey.replace(/\bhttps?:\/\/\S+/gi, '<url>');
}

function errorDetail(text: string, apiKey: string): string {
  try {
    const parsed = renderErrorSchema.safeParse(JSON.parse(text));
    if (parsed.success) {
      return scrub([parsed.data.id, parsed.data.message].filter(Boolean).join(': '), apiKey).slice(0, 200);
    }
  } catch {
    // Not JSON: the status code says enough.
  }
  return '';
}

function pauseBefore(attempt: number, policy: RetryPolicy, retryAfter: string | null): number {
  const seconds = retryAfter === null ? Number.NaN : Number(retryAfter);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.min(policy.maxDelayMs, seconds * 1000);
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
  // Half fixed, half random: several stages checking at the same minute do not retry in step.
  return ceiling / 2 + Math.random() * (ceiling / 2);
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function getJson(path: string, options: RenderCheckOptions): Promise<unknown> {
  const doFetch = options.fetch ?? fetch;
  const policy = options.retry ?? defaultRenderRetry;
  const url = `${options.baseUrl ?? renderApiUrl}${path}`;
  for (let attempt = 1; ; attempt++) {
    let response: Response | undefined;
    let fault = 'unreachable';
    try {
      response = await doFetch(url, {
        headers: { accept: 'application/json', authorization: `Bearer ${options.apiKey}` },
        signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
      });
    } catch (error) {
      response = undefined;
      fault = `unreachable (${scrub(describeError(error), options.apiKey)})`;
    }
    if (response) {
      const text = await response.text();
      if (response.ok) {
        try {
          return JSON.parse(text) as unknown;
        } catch {
          throw new ProviderBackupError(`Render API ${path} answered with something that is not JSON`);
        }
      }
      const detail = errorDetail(text, options.apiKey);
      fault = `answered ${response.status}${detail ? ` (${detail})` : ''}`;
      if (response.status === 401 || response.status === 403) {
        throw new ConfigurationError(
          `Render API ${path} ${fault} (check the Render API key secret): RENDER_API_KEY (stage config: render.apiKeySecretArn) must hold a key of the workspace that owns ${options.postgresId}`,
          { details: { field: 'RENDER_API_KEY' } },
        );
      }
      if (response.status === 404) {
        throw new ConfigurationError(
          `Render API ${path} ${fault}: RENDER_POSTGRES_ID (stage config: render.postgresId) ${options.postgresId} names no Postgres instance this key can read`,
          { details: { field: 'RENDER_POSTGRES_ID' } },
        );
      }
      if (!retriedStatuses.has(response.status)) throw new ProviderBackupError(`Render API ${path} ${fault}`);
    }
    if (attempt >= policy.attempts) {
      throw new ProviderBackupError(`Render API ${path} ${fault} after ${attempt} attempt(s)`);
    }
    const retryAfter = response?.headers.get('retry-after') ?? null;
    await (options.pause ?? sleep)(pauseBefore(attempt, policy, retryAfter));
  }
}

function parseResponse<T>(schema: z.ZodType<T>, value: unknown, path: string): T {
  const result = schema.safeParse(value);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new ProviderBackupError(
      `Render API ${path} answered in an unexpected shape at ${issue?.path.join('.') || '(root)'}: ${issue?.message}`,
    );
  }
  return result.data;
}

function withFindings(
  status: Omit<ProviderStatus, 'ok' | 'problem' | 'findings'>,
  findings: ProviderFinding[],
): ProviderStatus {
  return {
    ...status,
    ok: findings.length === 0,
    problem: findings.length ? findings.map((f) => f.message).join('; ') : null,
    findings,
  };
}

/**
 * Render's newest export with its signed download link, for the second-line drill only: the link is
 * handed to the download and never stored, logged or returned by anything else.
 */
export async function newestRenderExport(
  options: Omit<RenderCheckOptions, 'now'>,
): Promise<{ id: string; createdAt: string; url: string } | undefined> {
  if (!postgresIdPattern.test(options.postgresId)) {
    throw new ConfigurationError('RENDER_POSTGRES_ID must be a Render Postgres id such as dpg-…', {
      details: { field: 'RENDER_POSTGRES_ID' },
    });
  }
  const path = `/postgres/${encodeURIComponent(options.postgresId)}/export`;
  const exports = parseResponse(exportsSchema, await getJson(path, { ...options, now: new Date() }), path);
  const newest = exports.sort((a, b) => Date.parse(b.createdAt) - Date.parse(a.createdAt))[0];
  if (!newest) return undefined;
  if (!newest.url) throw new ProviderBackupError(`Render's newest export ${newest.id} has no download link`);
  return { id: newest.id, createdAt: new Date(newest.createdAt).toISOString(), url: newest.url };
}

/** A check that could not be made: reported (and alerted on), never thrown. */
export function failedProviderStatus(
  postgresId: string,
  now: Date,
  problem: string,
  finding: Pick<ProviderFinding, 'kind' | 'error'> = { kind: 'configuration', error: 'ConfigurationError' },
  plan: { minRecoveryDays?: number; maxExportAgeHours?: number } = {},
): ProviderStatus {
  return withFindings(
    {
      provider: 'render',
      postgresId,
      checkedAt: now.toISOString(),
      instance: null,
      recoveryStatus: null,
      recoveryWindowStartsAt: null,
      recoveryWindowDays: null,
      minRecoveryDays: plan.minRecoveryDays ?? renderPlanDefaults.minRecoveryDays,
      newestExport: null,
      maxExportAgeHours: plan.maxExportAgeHours ?? renderPlanDefaults.maxExportAgeHours,
    },
    [{ ...finding, message: problem }],
  );
}

const dayMs = 86_400_000;
const tenth = (value: number) => Math.round(value * 10) / 10;

/** What the plan needs of Render's line, judged on what the API said. */
function judge(
  recovery: z.infer<typeof recoverySchema>,
  windowDays: number | null,
  newestExport: ProviderStatus['newestExport'],
  plan: { minRecoveryDays: number; maxExportAgeHours: number },
): ProviderFinding[] {
  const findings: ProviderFinding[] = [];
  if (recovery.recoveryStatus !== 'AVAILABLE') {
    findings.push({
      kind: 'recovery-unavailable',
      error: 'ProviderBackupError',
      message: `Render point-in-time recovery is ${recovery.recoveryStatus}: the provider cannot restore this database to a point in time right now`,
    });
  } else if (windowDays === null) {
    findings.push({
      kind: 'recovery-window',
      error: 'ProviderRecoveryWindowError',
      message: `Render did not say where its recovery window starts; the plan needs ${plan.minRecoveryDays} days`,
    });
  } else if (windowDays < plan.minRecoveryDays) {
    // Compared at a tenth of a day: Render moves the window's start in steps, and a 7-day window
    // read a few minutes after a step is not a short one.
    findings.push({
      kind: 'recovery-window',
      error: 'ProviderRecoveryWindowError',
      message: `Render keeps ${windowDays} days; the plan needs ${plan.minRecoveryDays} (point-in-time recovery since ${recovery.startsAt})`,
    });
  }
  if (!newestExport) {
    findings.push({
      kind: 'export-stale',
      error: 'ProviderExportStaleError',
      message: `Render has no logical export; the plan wants one newer than ${plan.maxExportAgeHours} h`,
    });
  } else if (newestExport.ageHours > plan.maxExportAgeHours) {
    findings.push({
      kind: 'export-stale',
      error: 'ProviderExportStaleError',
      message: `Render's newest export ${newestExport.id} is ${newestExport.ageHours} h old; the plan wants one newer than ${plan.maxExportAgeHours} h`,
    });
  }
  return findings;
}

/**
 * Reads Render's backup state and judges it against the plan. A check that could not be made is a
 * status with a `configuration` (wrong key or id) or `check-failed` finding, not a throw: the status
 * report must still be published. Only a malformed id (which could change the request path) throws.
 */
export async function checkRenderBackups(options: RenderCheckOptions): Promise<ProviderStatus> {
  if (!postgresIdPattern.test(options.postgresId)) {
    throw new ConfigurationError(
      'RENDER_POSTGRES_ID must be a Render Postgres id such as dpg-… (letters, digits, - and _)',
      { details: { field: 'RENDER_POSTGRES_ID' } },
    );
  }
  const plan = {
    minRecoveryDays: options.minRecoveryDays ?? renderPlanDefaults.minRecoveryDays,
    maxExportAgeHours: options.maxExportAgeHours ?? renderPlanDefaults.maxExportAgeHours,
  };
  const id = encodeURIComponent(options.postgresId);
  try {
    const instancePath = `/postgres/${id}`;
    const recoveryPath = `/postgres/${id}/recovery`;
    const exportPath = `/postgres/${id}/export`;
    const instance = parseResponse(instanceSchema, await getJson(instancePath, options), instancePath);
    const recovery = parseResponse(recoverySchema, await getJson(recoveryPath, options), recoveryPath);
    const exports = parseResponse(exportsSchema, await getJson(exportPath, options), exportPath);
    const newest = exports.sort((a, b) => Date.parse(b.createdAt) - Date.parse(a.createdAt))[0];
    const newestExport = newest
      ? {
          id: newest.id,
          createdAt: new Date(newest.createdAt).toISOString(),
          ageHours:
            Math.round(((options.now.getTime() - Date.parse(newest.createdAt)) / 3_600_000) * 100) / 100,
        }
      : null;
    const windowDays =
      recovery.recoveryStatus === 'AVAILABLE' && recovery.startsAt
        ? tenth((options.now.getTime() - Date.parse(recovery.startsAt)) / dayMs)
        : null;
    return withFindings(
      {
        provider: 'render',
        postgresId: options.postgresId,
        checkedAt: options.now.toISOString(),
        instance: {
          name: instance.name ?? null,
          plan: instance.plan ?? null,
          version: instance.version ?? null,
        },
        recoveryStatus: recovery.recoveryStatus,
        recoveryWindowStartsAt: recovery.startsAt ?? null,
        recoveryWindowDays: windowDays,
        minRecoveryDays: plan.minRecoveryDays,
        newestExport,
        maxExportAgeHours: plan.maxExportAgeHours,
      },
      judge(recovery, windowDays, newestExport, plan),
    );
  } catch (error) {
    if (error instanceof ConfigurationError) {
      return failedProviderStatus(options.postgresId, options.now, error.message, undefined, plan);
    }
    if (error instanceof ProviderBackupError) {
      return failedProviderStatus(
        options.postgresId,
        options.now,
        error.message,
        { kind: 'check-failed', error: 'ProviderBackupError' },
        plan,
      );
    }
    throw error;
  }
}
