/**
 * Use case: the second-line drill (lib/provider/render-drill.ts) with a stage's settings. The quarterly
 * drills run it on the worker (lib/steps/render-drill.ts); `backupctl drill --render --local` runs it
 * against the local vault. Render must be configured: its Postgres id and the API key (locally) or the
 * key's secret (AWS).
 */
import { ConfigurationError } from '../errors.ts';
import { drillRenderExport, type RenderDrillRecord } from '../provider/render-drill.ts';
import type { Runtime } from '../runtime.ts';

export async function runRenderDrill(
  runtime: Pick<Runtime, 'settings' | 'renderApiKey' | 'store' | 'programs'>,
  options: { signal?: AbortSignal | undefined } = {},
): Promise<RenderDrillRecord> {
  const { settings } = runtime;
  if (!settings.RENDER_POSTGRES_ID) {
    throw new ConfigurationError(
      "Render's drill needs RENDER_POSTGRES_ID (stage config: render.postgresId)",
      {
        details: { field: 'RENDER_POSTGRES_ID' },
      },
    );
  }
  const apiKey = await runtime.renderApiKey();
  if (!apiKey) {
    throw new ConfigurationError(
      "Render's drill needs RENDER_API_KEY, or RENDER_API_KEY_SECRET_ARN (stage config: render.apiKeySecretArn)",
      { details: { field: 'RENDER_API_KEY' } },
    );
  }
  return drillRenderExport({
    apiKey,
    postgresId: settings.RENDER_POSTGRES_ID,
    ...(settings.RENDER_API_URL ? { baseUrl: settings.RENDER_API_URL } : {}),
    store: runtime.store,
    programs: runtime.programs,
    serverDir: settings.PG_SERVER_DIR,
    extensions: settings.SCRATCH_EXTENSIONS,
    workDir: settings.WORK_DIR,
    jobs: settings.RESTORE_JOBS,
    driftPerHour: settings.RENDER_DRILL_DRIFT_PERCENT_PER_HOUR / 100,
    signal: options.signal,
  });
}
