/**
 * Which of Render's findings the status run alerts on, and what the alert says. A recovery that is not
 * available, or a check that could not be made, is alerted on every run (the next run is the retry).
 * A short recovery window and a stale export are states that last for days: they are alerted once when
 * they start, and again only after they ended and came back, so the alert channel does not repeat
 * itself after every execution. The standing states are kept in the bucket (status/provider-alerts.json)
 * beside the status report, written only after the alert went out.
 */
import { z } from 'zod';
import { BackupNotFoundError } from '../errors.ts';
import type { Message } from '../notify/publish.ts';
import type { BackupStore } from '../storage/backup-store.ts';
import type { ProviderFinding, ProviderFindingKind, ProviderStatus } from './render.ts';

export const providerAlertStateKey = 'status/provider-alerts.json';

/** Findings alerted once per start: they describe a state, not a failed attempt. */
const standingKinds: readonly ProviderFindingKind[] = ['recovery-window', 'export-stale'];

const stateSchema = z.object({
  postgresId: z.string(),
  standing: z.array(z.enum(['recovery-window', 'export-stale'])),
  updatedAt: z.string(),
});

const providerNames: Record<ProviderStatus['provider'], string> = { render: 'Render' };

function subjectOf(provider: ProviderStatus, first: ProviderFinding): string {
  switch (first.kind) {
    case 'recovery-unavailable':
      return provider.recoveryStatus ?? 'recovery unavailable';
    case 'configuration':
    case 'check-failed':
      return 'check failed';
    case 'recovery-window':
      return provider.recoveryWindowDays === null
        ? 'recovery window unknown'
        : `recovery window ${provider.recoveryWindowDays} of ${provider.minRecoveryDays} days`;
    case 'export-stale':
      return provider.newestExport ? `export ${provider.newestExport.ageHours} h old` : 'no logical export';
  }
}

export function providerAlert(
  provider: ProviderStatus,
  stage: string,
  findings: ProviderFinding[] = provider.findings,
): Message {
  const name = providerNames[provider.provider];
  const first = findings[0] ?? {
    kind: 'check-failed',
    error: 'ProviderBackupError',
    message: provider.problem ?? '',
  };
  return {
    subject: `[${stage}] ${name} backups need attention: ${subjectOf(provider, first)}`,
    text: [
      ...findings.map((f) => `${f.error}: ${f.message}`),
      `Database: ${name} ${provider.postgresId}${provider.instance?.plan ? ` (plan ${provider.instance.plan})` : ''}; checked ${provider.checkedAt}.`,
      'Our own verified backups are unaffected; see status/BACKUP_STATUS.md and BACKUP_RUNBOOK.md.',
    ].join('\n'),
  };
}

async function readStanding(store: BackupStore, postgresId: string): Promise<Set<ProviderFindingKind>> {
  try {
    const parsed = stateSchema.safeParse(JSON.parse(await store.getText(providerAlertStateKey)));
    // Another instance's record (the id changed) says nothing about this one.
    return parsed.success && parsed.data.postgresId === postgresId
      ? new Set(parsed.data.standing)
      : new Set();
  } catch (error) {
    if (error instanceof BackupNotFoundError || error instanceof SyntaxError) return new Set();
    throw error;
  }
}

/**
 * Alerts on what needs it and records the standing states. A check that failed says nothing about the
 * window or the exports, so it leaves the record as it was (a flapping API must not re-alert them).
 */
export async function alertOnProvider(
  store: BackupStore,
  provider: ProviderStatus,
  stage: string,
  alert: (message: Message) => Promise<unknown>,
): Promise<ProviderFinding[]> {
  const checked = !provider.findings.some((f) => f.kind === 'configuration' || f.kind === 'check-failed');
  const before = await readStanding(store, provider.postgresId);
  const toAlert = provider.findings.filter((f) => !standingKinds.includes(f.kind) || !before.has(f.kind));
  if (toAlert.length > 0) await alert(providerAlert(provider, stage, toAlert));
  if (checked) {
    const now = provider.findings.filter((f) => standingKinds.includes(f.kind)).map((f) => f.kind);
    const changed = now.length !== before.size || now.some((kind) => !before.has(kind));
    if (changed) {
      await store.putJson(providerAlertStateKey, {
        postgresId: provider.postgresId,
        standing: now,
        updatedAt: provider.checkedAt,
      });
    }
  }
  return toAlert;
}
