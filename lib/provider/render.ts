/**
 * Render's own backups, shown beside ours: its point-in-time recovery state
 * (`GET /v1/postgres/{id}/recovery`) and its newest logical export (`GET /v1/postgres/{id}/export`).
 * Ours are the ones proven restorable; Render's are a second line, and the status says when that
 * second line is down. The API key and the exports' download URLs (signed links) are never kept:
 * only status, timestamps and ids leave this module.
 */
import { z } from 'zod';
import { ConfigurationError, describeError, ProviderBackupError } from '../errors.ts';

export const renderApiUrl = 'https://api.render.com/v1';
export const postgresIdPattern = /^[a-zA-Z0-9_-]{1,64}$/;

const recoverySchema = z.object({
  recoveryStatus: z.enum(['AVAILABLE', 'BACKUP_NOT_READY', 'NOT_AVAILABLE']),
  startsAt: z.iso.datetime({ offset: true }).optional(),
});
const exportsSchema = z.array(
  z.object({ id: z.string(), createdAt: z.iso.datetime({ offset: true }), url: z.string().optional() }),
);
const renderErrorSchema = z.object({ id: z.string().optional(), message: z.string().optional() });

export interface ProviderStatus {
  provider: 'render';
  postgresId: string;
  checkedAt: string;
  /** AVAILABLE | BACKUP_NOT_READY | NOT_AVAILABLE, or null when the check itself failed. */
  recoveryStatus: z.infer<typeof recoverySchema>['recoveryStatus'] | null;
  /** The earliest point in time Render can recover to. */
  recoveryWindowStartsAt: string | null;
  newestExport: { id: string; createdAt: string; ageHours: number } | null;
  ok: boolean;
  /** Why `ok` is false, in words an on-call engineer can act on (never the key or a URL). */
  problem: string | null;
}

export interface RenderCheckOptions {
  apiKey: string;
  postgresId: string;
  baseUrl?: string;
  now: Date;
  fetch?: typeof fetch;
  timeoutMs?: number;
}

async function getJson(path: string, options: RenderCheckOptions): Promise<unknown> {
  const doFetch = options.fetch ?? fetch;
  const url = `${options.baseUrl ?? renderApiUrl}${path}`;
  let response: Response;
  try {
    response = await doFetch(url, {
      headers: { accept: 'application/json', authorization: `Bearer ${options.apiKey}` },
      signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
    });
  } catch (error) {
    throw new ProviderBackupError(`Render API ${path} unreachable: ${describeError(error)}`);
  }
  const text = await response.text();
  if (!response.ok) {
    let detail = '';
    try {
      const parsed = renderErrorSchema.safeParse(JSON.parse(text));
      if (parsed.success) detail = [parsed.data.id, parsed.data.message].filter(Boolean).join(': ');
    } catch {
      // Not JSON: the status code says enough.
    }
    const hint =
      response.status === 401 || response.status === 403 ? ' (check the Render API key secret)' : '';
    throw new ProviderBackupError(
      `Render API ${path} answered ${response.status}${detail ? ` (${detail.slice(0, 200)})` : ''}${hint}`,
    );
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new ProviderBackupError(`Render API ${path} answered with something that is not JSON`);
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

/** A check that could not be made: reported (and alerted on) like an unavailable recovery. */
export function failedProviderStatus(postgresId: string, now: Date, problem: string): ProviderStatus {
  return {
    provider: 'render',
    postgresId,
    checkedAt: now.toISOString(),
    recoveryStatus: null,
    recoveryWindowStartsAt: null,
    newestExport: null,
    ok: false,
    problem,
  };
}

/** Reads Render's backup state; a failed check is reported as a status with `ok: false`, not thrown. */
export async function checkRenderBackups(options: RenderCheckOptions): Promise<ProviderStatus> {
  if (!postgresIdPattern.test(options.postgresId)) {
    throw new ConfigurationError(
      'RENDER_POSTGRES_ID must be a Render Postgres id such as dpg-… (letters, digits, - and _)',
    );
  }
  const base = {
    provider: 'render' as const,
    postgresId: options.postgresId,
    checkedAt: options.now.toISOString(),
  };
  const id = encodeURIComponent(options.postgresId);
  try {
    const recoveryPath = `/postgres/${id}/recovery`;
    const exportPath = `/postgres/${id}/export`;
    const recovery = parseResponse(recoverySchema, await getJson(recoveryPath, options), recoveryPath);
    const exports = parseResponse(exportsSchema, await getJson(exportPath, options), exportPath);
    const newest = exports.sort((a, b) => Date.parse(b.createdAt) - Date.parse(a.createdAt))[0];
    const ok = recovery.recoveryStatus === 'AVAILABLE';
    return {
      ...base,
      recoveryStatus: recovery.recoveryStatus,
      recoveryWindowStartsAt: recovery.startsAt ?? null,
      newestExport: newest
        ? {
            id: newest.id,
            createdAt: new Date(newest.createdAt).toISOString(),
            ageHours:
              Math.round(((options.now.getTime() - Date.parse(newest.createdAt)) / 3_600_000) * 100) / 100,
          }
        : null,
      ok,
      problem: ok
        ? null
        : `Render point-in-time recovery is ${recovery.recoveryStatus}: the provider cannot restore this database to a point in time right now`,
    };
  } catch (error) {
    if (!(error instanceof ProviderBackupError)) throw error;
    return failedProviderStatus(options.postgresId, options.now, error.message);
  }
}
