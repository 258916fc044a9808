/**
 * Secrets: a connection URL or webhook comes either straight from an environment variable (local
 * runs) or from Secrets Manager (AWS), cached per container. Secret values never reach a log, an
 * error message, a step output or a manifest.
 */
import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { ConfigurationError, describeError } from './errors.ts';

const cache = new Map<string, { value: string; expires: number }>();
const ttlMs = 5 * 60_000;

/**
 * Accepts a plain string, `{"url": "..."}`, or the RDS-style
 * `{"username","password","host","port","dbname"}` JSON that AWS generates for database secrets.
 */
export function connectionUrlFromSecret(secret: string, label: string): string {
  const trimmed = secret.trim();
  if (!trimmed.startsWith('{')) return trimmed;
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(trimmed) as Record<string, unknown>;
  } catch {
    throw new ConfigurationError(`${label} holds malformed JSON`);
  }
  if (typeof parsed.url === 'string') return parsed.url;
  const { username, password, host, port, dbname } = parsed;
  if (typeof username !== 'string' || typeof host !== 'string' || typeof dbname !== 'string') {
    throw new ConfigurationError(
      `${label} must hold a connection URL, {"url"}, or username/host/dbname fields`,
    );
  }
  const auth = `${encodeURIComponent(username)}${typeof password === 'string' ? `:${encodeURIComponent(password)}` : ''}`;
  const sslmode = typeof parsed.sslmode === 'string' ? `?sslmode=${encodeURIComponent(parsed.sslmode)}` : '';
  return `postgresql://${auth}@${host}:${Number(port ?? 5432)}/${encodeURIComponent(dbname)}${sslmode}`;
}

export async function readSecret(
  client: SecretsManagerClient,
  secretId: string,
  label: string,
  now = Date.now(),
): Promise<string> {
  const cached = cache.get(secretId);
  if (cached && cached.expires > now) return cached.value;
  try {
    const result = await client.send(new GetSecretValueCommand({ SecretId: secretId }));
    const value = result.SecretString;
    if (!value) throw new ConfigurationError(`${label} has no string value`);
    cache.set(secretId, { value, expires: now + ttlMs });
    return value;
  } catch (error) {
    if (error instanceof ConfigurationError) throw error;
    throw new ConfigurationError(`could not read ${label} from Secrets Manager: ${describeError(error)}`);
  }
}

export function clearSecretCache(): void {
  cache.clear();
}
