/**
 * Whether and how the status run checks the database provider's own backups: only when a Render
 * Postgres id is configured, and then a missing API key is a configuration error, not a silent skip.
 */
import { ConfigurationError } from '../errors.ts';
import type { Runtime } from '../runtime.ts';
import { checkRenderBackups, type ProviderStatus } from './render.ts';

export function providerCheckFor(
  runtime: Pick<Runtime, 'settings' | 'renderApiKey'>,
  now: Date,
): (() => Promise<ProviderStatus>) | undefined {
  const postgresId = runtime.settings.RENDER_POSTGRES_ID;
  if (!postgresId) return undefined;
  return async () => {
    const apiKey = await runtime.renderApiKey();
    if (!apiKey) {
      throw new ConfigurationError(
        'RENDER_POSTGRES_ID is set but neither RENDER_API_KEY nor RENDER_API_KEY_SECRET_ARN',
      );
    }
    return checkRenderBackups({
      apiKey,
      postgresId,
      now,
      ...(runtime.settings.RENDER_API_URL ? { baseUrl: runtime.settings.RENDER_API_URL } : {}),
    });
  };
}
