/**
 * Runtime settings, read from the environment (set by serverless.yml on AWS, by the local runner
 * locally) and checked strictly: a missing or malformed variable is named in the error, never guessed.
 * What each setting is, and its default, is lib/settings.ts's table.
 */
import type { z } from 'zod';
import { ConfigurationError } from './errors.ts';
import { runtimeSettingsSchema } from './settings.ts';

export type RuntimeSettings = z.infer<typeof runtimeSettingsSchema>;

export function readRuntimeSettings(env: NodeJS.ProcessEnv = process.env): RuntimeSettings {
  const result = runtimeSettingsSchema.safeParse(env);
  if (!result.success) {
    const issue = result.error.issues[0];
    const name = issue?.path.join('.') ?? '(environment)';
    // The value is never echoed: some of these variables hold credentials.
    throw new ConfigurationError(`environment variable ${name} ${issue?.message ?? 'is invalid'}`, {
      details: { field: name },
    });
  }
  return result.data;
}
