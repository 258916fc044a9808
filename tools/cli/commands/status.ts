/**
 * `backupctl status [--write] [--open [--out DIR]] [--link]`: the status report (RPO, last failure,
 * last drill, trend). --write puts status.json, BACKUP_STATUS.md, badge.svg and the status page
 * index.html into the bucket; --open writes the status page to a local file and names it (and opens it
 * when a desktop is there to open it); --link writes the report and prints a presigned link to the
 * bucket's page, valid one hour. The CLI shows a provider problem in the summary; alerting is the
 * status function's job.
 */
import { spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { prices } from '../../../config/prices.ts';
import { proofWarning } from '../../../lib/backup/manifest.ts';
import { reportStatus } from '../../../lib/commands/status.ts';
import { formatDuration } from '../../../lib/drill/evidence.ts';
import { InputValidationError } from '../../../lib/errors.ts';
import { formatBytes } from '../../../lib/notify/messages.ts';
import { renderStatusHtml } from '../../../lib/report/html.ts';
import { growthWords, statusKeys } from '../../../lib/report/render.ts';
import type { StatusReport } from '../../../lib/report/status-report.ts';
import { type CommandContext, exitCodes, withTarget } from '../context.ts';

const linkHours = 1;

export async function statusCommand({ place, values, out, deps }: CommandContext): Promise<number> {
  if (values.link === true && place.kind === 'local') {
    throw new InputValidationError(
      '--link needs --stage: the local S3 API stops with the command, so use --open for a local page',
      { details: { field: '--link' } },
    );
  }
  return withTarget(place, deps, async ({ runtime, executions, stage }) => {
    const now = new Date();
    const write = values.write === true || values.link === true;
    const report = await reportStatus(runtime, {
      now,
      executions: await executions(new Date(now.getTime() - 30 * 86_400_000)),
      write,
      metricsSink: () => undefined,
      prices,
    });
    const extra: string[] = [];
    const data: { report: StatusReport; file?: string; link?: string } = { report };
    if (write) extra.push(`Written: ${Object.values(statusKeys).join(', ')}`);
    if (values.open === true) {
      const directory = resolve(typeof values.out === 'string' ? values.out : '.');
      await mkdir(directory, { recursive: true });
      data.file = join(directory, `backup-status-${stage}.html`);
      await writeFile(data.file, renderStatusHtml(report));
      extra.push(`Status page: ${pathToFileURL(data.file).href}`);
      if (!out.json && process.stdout.isTTY) openInBrowser(data.file);
    }
    if (values.link === true) {
      data.link = await runtime.store.presignedGetUrl(statusKeys.html, linkHours * 3600);
      extra.push(
        `Status page (link valid ${linkHours} h, anyone holding it can read the page): ${data.link}`,
      );
    }
    const [summary, ...facts] = statusLines(report, now);
    // The verdict first, as a heading: green when within the RPO and nothing failed, else red.
    const good = report.withinRpo && report.state === 'ok';
    const heading = out.paint(['bold', good ? 'green' : 'red'], summary ?? '');
    out.print([heading, ...facts, ...extra].join('\n'), values.open || values.link ? data : report);
    // A backup that failed a later check is red even within the RPO: the last good one is older than it looks.
    return report.withinRpo && report.state !== 'check-failed' ? exitCodes.ok : exitCodes.failed;
  });
}

/** Hands the page to the desktop's browser when there is a desktop; the path is printed either way. */
function openInBrowser(file: string): void {
  const opener =
    process.platform === 'darwin'
      ? 'open'
      : process.env.DISPLAY || process.env.WAYLAND_DISPLAY
        ? 'xdg-open'
        : undefined;
  if (!opener) return;
  const child = spawn(opener, [file], { detached: true, stdio: 'ignore' });
  child.on('error', () => undefined);
  child.unref();
}

const stateWords: Record<StatusReport['state'], string> = {
  ok: 'ok',
  'last-run-failed': 'LAST RUN FAILED',
  'check-failed': 'CHECK FAILED',
  stale: 'STALE',
  'no-verified-backup': 'NO VERIFIED BACKUP',
};

const ago = (at: string, now: Date) => {
  const hours = (now.getTime() - Date.parse(at)) / 3_600_000;
  return hours < 48 ? `${hours.toFixed(1)} h ago` : `${(hours / 24).toFixed(0)} days ago`;
};

/** The report's facts in a few lines a person reads at 3 a.m.: the verdict first. */
export function statusLines(report: StatusReport, now: Date): string[] {
  const { newestVerified: newest, lastFailure: failure, lastDrill: drill, successRate30d: runs } = report;
  const sizes = report.sizeTrend;
  return [
    report.summary,
    ...(newest
      ? [
          `  proof         ${newest.proof === 'checksums' ? `row counts and content checksums${proofWarning(newest.proofLabel)}` : 'row counts only'}`,
        ]
      : []),
    ...report.failedChecks.map(
      (f) => `  check failed  ${f.backupId}: ${f.kind} ${ago(f.checkedAt, now)}: ${f.reason.slice(0, 160)}`,
    ),
    ...report.damaged.map((d) => `  DAMAGED       ${d.key}: ${d.reason.slice(0, 160)}`),
    `  last failure  ${failure ? `${failure.stateMachine} ${failure.error}, ${ago(failure.at, now)}: ${failure.cause.slice(0, 160)}` : 'none in 30 days'}`,
    `  last drill    ${drill ? `${drill.drillId} ${drill.passed ? 'PASSED' : 'FAILED'}, RTO ${formatDuration(drill.observedRtoSeconds)} (target ${drill.targetRtoHours} h), ${ago(drill.at, now)}` : 'none yet: run `backupctl drill`'}`,
    `  30 days       ${runs.runs} run(s), ${runs.succeeded} ${runs.source === 'executions' ? 'succeeded' : 'verified'}${
      sizes.length > 0
        ? `; dump ${formatBytes(sizes[0]?.bytes ?? 0)} → ${formatBytes(sizes.at(-1)?.bytes ?? 0)}, growth ${growthWords(report)}`
        : ''
    }`,
    ...(report.databases.length > 1
      ? [
          `  databases     ${report.databases
            .map(
              (d) =>
                `${d.database ?? '(top level)'} ${stateWords[d.state]}${d.newestVerified ? ` (${d.newestVerified.ageHours} h)` : ''}`,
            )
            .join(', ')}`,
        ]
      : []),
    ...(report.estimatedMonthlyCost
      ? [
          `  cost          about $${report.estimatedMonthlyCost.totalUsd.toFixed(2)} a month on AWS at list prices (config/prices.ts; no NAT gateway)`,
        ]
      : []),
  ];
}
