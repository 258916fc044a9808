/**
 * Whether and how the status run checks the database provider's own backups: only when a Render
 * Postgres id is configured. A key that is missing or unreadable is reported as a failed check (and so
 * alerted on), never thrown: the status report and its BackupAgeHours metric must still be published,
 * or the stale-backup alarm would fire for the wrong reason.
 */
import { describeError } from '../errors.ts';
import type { Runtime } from '../runtime.ts';
import { checkRenderBackups, failedProviderStatus, type ProviderStatus } from './render.ts';

export function providerCheckFor(
  runtime: Pick<Runtime, 'settings' | 'renderApiKey'>,
  now: Date,
): (() => Promise<ProviderStatus>) | undefined {
  const postgresId = runtime.settings.RENDER_POSTGRES_ID;
  if (!postgresId) return undefined;
  const plan = {
    minRecoveryDays: runtime.settings.RENDER_MIN_RECOVERY_DAYS,
    maxExportAgeHours: runtime.settings.RENDER_MAX_EXPORT_AGE_HOURS,
  };
  return async () => {
    let apiKey: string | undefined;
    try {
      apiKey = await runtime.renderApiKey();
    } catch (error) {
      return failedProviderStatus(
        postgresId,
        now,
        `the Render API key could not be read: ${describeError(error)}`,
        { kind: 'check-failed', error: 'ProviderBackupError' },
        plan,
      );
    }
    if (!apiKey) {
      return failedProviderStatus(
        postgresId,
        now,
        'RENDER_POSTGRES_ID is set but neither RENDER_API_KEY nor RENDER_API_KEY_SECRET_ARN',
        undefined,
        plan,
      );
    }
    return checkRenderBackups({
      apiKey,
      postgresId,
      now,
      ...plan,
      ...(runtime.settings.RENDER_API_URL ? { baseUrl: runtime.settings.RENDER_API_URL } : {}),
    });
  };
}
