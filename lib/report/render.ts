/**
 * The status report for people (BACKUP_STATUS.md), for READMEs and dashboards (badge.svg, made with
 * badge-maker, the library behind shields.io) and for CloudWatch (Embedded Metric Format log lines:
 * Lambda's log pipeline turns them into metrics without an API call or extra permission).
 */
import { makeBadge } from 'badge-maker';
import { proofWarning } from '../backup/manifest.ts';
import { formatDuration } from '../drill/evidence.ts';
import { formatBytes } from '../notify/messages.ts';
import type { ProviderStatus } from '../provider/render.ts';
import type { RenderDrillSummary } from '../provider/render-drill.ts';
import { growthHistoryDaysNeeded, type StatusReport } from './status-report.ts';

export const statusKeys = {
  json: 'status/status.json',
  markdown: 'status/BACKUP_STATUS.md',
  badge: 'status/badge.svg',
  html: 'status/index.html',
};

export function badgeFor(report: StatusReport): { label: string; message: string; color: string } {
  const age = report.newestVerified ? `${report.newestVerified.ageHours.toFixed(0)} h` : '';
  switch (report.state) {
    case 'ok':
      return { label: 'backup', message: `verified ${age} ago`, color: 'brightgreen' };
    case 'last-run-failed':
      return { label: 'backup', message: `last run failed, verified ${age} ago`, color: 'orange' };
    case 'check-failed':
      return { label: 'backup', message: `a later check failed, verified ${age} ago`, color: 'red' };
    case 'stale':
      return { label: 'backup', message: `stale: verified ${age} ago`, color: 'red' };
    case 'no-verified-backup':
      return { label: 'backup', message: 'no verified backup', color: 'red' };
  }
}

/** Growth as people read it: a rate only from a week of backups or more. */
export function growthWords(report: Pick<StatusReport, 'growthBytesPerDay' | 'growthHistoryDays'>): string {
  const growth = report.growthBytesPerDay;
  if (growth === null) {
    return `not enough history (${report.growthHistoryDays} of ${growthHistoryDaysNeeded} days)`;
  }
  return `${formatBytes(Math.abs(growth))}/day ${growth < 0 ? 'shrinking' : 'growing'} (over ${report.growthHistoryDays} days)`;
}

/** The databases a report covers, by name, for titles. */
export function databaseNames(report: Pick<StatusReport, 'databases'>): string {
  return report.databases.map((d) => d.database ?? '(top level)').join(', ');
}

export function renderBadge(report: StatusReport): string {
  return makeBadge(badgeFor(report));
}

export function renderStatusMarkdown(report: StatusReport): string {
  const yes = (ok: boolean) => (ok ? 'yes' : '**NO**');
  const rate = report.successRate30d;
  const lines = [
    report.databases.length > 0 ? `# Backup status: ${databaseNames(report)}` : '# Backup status',
    '',
    `**${report.summary}**`,
    '',
    `Generated ${report.generatedAt}.`,
    '',
    '| | |',
    '|---|---|',
    report.newestVerified
      ? `| newest verified backup | ${report.newestVerified.backupId} (${report.newestVerified.createdAt}), ${formatBytes(report.newestVerified.bytes)}, proved: ${report.newestVerified.proof === 'checksums' ? `row counts and content${proofWarning(report.newestVerified.proofLabel)}` : 'row counts'} |`
      : '| newest verified backup | none |',
    `| age vs RPO | ${report.newestVerified ? `${report.newestVerified.ageHours} h` : '-'} / ${report.rpoHours} h: within ${yes(report.withinRpo)} |`,
    report.lastFailure
      ? `| last failure | ${report.lastFailure.at} ${report.lastFailure.stateMachine}: \`${report.lastFailure.error}\` ${report.lastFailure.cause.replaceAll('|', '/').replaceAll('\n', ' ')} |`
      : '| last failure | none recorded |',
    report.lastDrill
      ? `| last drill | ${report.lastDrill.drillId} ${report.lastDrill.passed ? 'passed' : '**FAILED**'}; RTO ${formatDuration(report.lastDrill.observedRtoSeconds)} / ${report.lastDrill.targetRtoHours} h: within ${yes(report.lastDrill.withinRto)} |`
      : '| last drill | none yet |',
    `| success rate (30 days) | ${rate.rate === null ? 'no runs' : `${(rate.rate * 100).toFixed(1)} % (${rate.succeeded}/${rate.runs} from ${rate.source})`} |`,
    `| storage growth | ${growthWords(report)} |`,
    `| projected storage (30 days) | ${formatBytes(report.projected30DayStorageBytes)} |`,
    `| estimated AWS cost per month | ${report.estimatedMonthlyCost ? `$${report.estimatedMonthlyCost.totalUsd.toFixed(2)} at list prices (${report.estimatedMonthlyCost.pricesChecked}; config/prices.ts), without NAT gateway and data transfer` : '-'} |`,
    '',
  ];
  if (report.databases.length > 1) {
    lines.push(
      '## Databases',
      '',
      '| database | state | newest verified backup | age |',
      '|---|---|---|---|',
      ...report.databases.map(
        (d) =>
          `| ${d.database ?? '(top level)'} | ${d.state} | ${d.newestVerified?.backupId ?? 'none'} | ${d.newestVerified ? `${d.newestVerified.ageHours} h` : '-'} |`,
      ),
      '',
    );
  }
  if (report.provider) lines.push(...providerMarkdown(report.provider, report.renderDrill));
  if (report.sizeTrend.length > 0) {
    lines.push(
      '## Size trend (30 days)',
      '',
      '| backup | size |',
      '|---|---|',
      ...report.sizeTrend.map((s) => `| ${s.backupId} | ${formatBytes(s.bytes)} |`),
      '',
    );
  }
  return lines.join('\n');
}

/**
 * The newest drill of Render's export (the quarterly drills run it on the worker): its verdict, the
 * time to a restored copy (this line's RTO) and how old the export was.
 */
function renderDrillFact(drill: RenderDrillSummary | null): {
  name: string;
  value: string;
  failing: boolean;
} {
  if (!drill) {
    return {
      name: 'last Render drill',
      value: 'none yet (the quarterly drills restore Render’s newest export)',
      failing: false,
    };
  }
  const figures = [
    drill.rtoSeconds !== null ? `RTO ${formatDuration(drill.rtoSeconds)}` : '',
    drill.exportId
      ? `export ${drill.exportId}${drill.exportAgeHours !== null ? ` ${drill.exportAgeHours} h old` : ''}`
      : '',
    drill.comparedWith ? `compared with our ${drill.comparedWith}` : '',
  ].filter(Boolean);
  return {
    name: 'last Render drill',
    value: `${drill.drillId}${drill.at ? ` of ${drill.at}` : ''}: ${drill.passed ? 'passed' : `FAILED (${drill.problem})`}${figures.length ? `; ${figures.join(', ')}` : ''}`,
    failing: !drill.passed,
  };
}

/** Render's line, each fact judged against the plan; a failing one reads **NO**. */
export function providerFacts(
  provider: ProviderStatus,
  drill: RenderDrillSummary | null,
): { name: string; value: string; failing: boolean }[] {
  const kinds = new Set(provider.findings.map((f) => f.kind));
  const instance = provider.instance;
  const window =
    provider.recoveryWindowDays === null
      ? `unknown; the plan needs ${provider.minRecoveryDays} days`
      : `${provider.recoveryWindowDays} days (since ${provider.recoveryWindowStartsAt}); the plan needs ${provider.minRecoveryDays}`;
  const newest = provider.newestExport;
  return [
    {
      name: 'instance the key reads',
      value: instance
        ? [
            instance.name,
            instance.plan && `plan ${instance.plan}`,
            instance.version && `PostgreSQL ${instance.version}`,
          ]
            .filter(Boolean)
            .join(', ') || 'yes'
        : 'not read',
      failing: instance === null,
    },
    {
      name: 'point-in-time recovery',
      value: `${provider.recoveryStatus ?? 'unknown'}`,
      failing: provider.recoveryStatus !== 'AVAILABLE',
    },
    { name: 'recovery window', value: window, failing: kinds.has('recovery-window') },
    {
      name: 'newest logical export',
      value: `${newest ? `${newest.id} of ${newest.createdAt} (${newest.ageHours} h old)` : provider.recoveryStatus === null ? 'unknown (the check failed)' : 'none'}; the plan wants one newer than ${provider.maxExportAgeHours} h`,
      failing: kinds.has('export-stale'),
    },
    renderDrillFact(drill),
    { name: 'checked', value: provider.checkedAt, failing: false },
  ];
}

function providerMarkdown(provider: ProviderStatus, drill: RenderDrillSummary | null): string[] {
  const cell = (text: string) => text.replaceAll('|', '/').replaceAll('\n', ' ');
  return [
    `## Provider backups (${provider.provider} \`${provider.postgresId}\`): the second line`,
    '',
    '| | | |',
    '|---|---|---|',
    ...providerFacts(provider, drill).map(
      (fact) => `| ${fact.name} | ${cell(fact.value)} | ${fact.failing ? '**NO**' : 'ok'} |`,
    ),
    ...provider.findings.map((f) => `| problem | \`${f.error}\` ${cell(f.message)} | **NO** |`),
    '',
  ];
}
