/**
 * The status page (status/index.html): one self-contained HTML file with the verdict, the facts an
 * operator asks first (age vs RPO, proof, last failure, last drill vs RTO, cost) and charts of the last
 * 90 nights. It makes no request of its own: styles are inline, charts are inline SVG, and its
 * Content-Security-Policy forbids anything else, so it opens the same from a presigned S3 link, a
 * local file or an e-mail attachment.
 */
import { proofWarning } from '../backup/manifest.ts';
import { formatDuration } from '../drill/evidence.ts';
import { formatBytes } from '../notify/messages.ts';
import { escapeHtml, renderLineChart } from './chart.ts';
import { providerFacts } from './render.ts';
import type { OverallState, StatusReport } from './status-report.ts';

const stateColours: Record<OverallState, string> = {
  ok: '#1a7f37',
  'last-run-failed': '#bc4c00',
  'check-failed': '#cf222e',
  stale: '#cf222e',
  'no-verified-backup': '#cf222e',
};

const seconds = (value: number) => formatDuration(value);

function facts(report: StatusReport): [string, string][] {
  const newest = report.newestVerified;
  const drill = report.lastDrill;
  const failure = report.lastFailure;
  const rate = report.successRate30d;
  const cost = report.estimatedMonthlyCost;
  return [
    [
      'Newest verified backup',
      newest ? `${newest.backupId} (${newest.createdAt}), ${formatBytes(newest.bytes)}` : 'none',
    ],
    [
      'Age vs RPO',
      newest
        ? `${newest.ageHours} h of ${report.rpoHours} h: ${report.withinRpo ? 'within' : 'EXCEEDED'}`
        : `- of ${report.rpoHours} h`,
    ],
    [
      'Proof',
      newest
        ? newest.proof === 'checksums'
          ? `row counts and content checksums${proofWarning(newest.proofLabel)}`
          : 'row counts only'
        : '-',
    ],
    [
      'Last failure',
      failure
        ? `${failure.at} ${failure.stateMachine}: ${failure.error}. ${failure.cause}`
        : 'none in 30 days',
    ],
    [
      'Last drill',
      drill
        ? `${drill.drillId} ${drill.passed ? 'passed' : 'FAILED'}; RTO ${seconds(drill.observedRtoSeconds)} of ${drill.targetRtoHours} h: ${drill.withinRto ? 'within' : 'EXCEEDED'}`
        : 'none yet',
    ],
    [
      'Success rate (30 days)',
      rate.rate === null
        ? 'no runs'
        : `${(rate.rate * 100).toFixed(1)} % (${rate.succeeded} of ${rate.runs})`,
    ],
    [
      'Storage growth',
      `${formatBytes(Math.abs(report.growthBytesPerDay))}/day ${report.growthBytesPerDay < 0 ? 'shrinking' : 'growing'}`,
    ],
    [
      'Estimated AWS cost',
      cost ? `about $${cost.totalUsd.toFixed(2)} a month at list prices (${cost.pricesChecked})` : '-',
    ],
  ];
}

const style = `
body{font:15px/1.45 system-ui,sans-serif;margin:0;color:#1f2328;background:#f6f8fa}
main{max-width:720px;margin:0 auto;padding:24px}
.verdict{color:#fff;padding:16px 20px;border-radius:8px;font-weight:600}
table{border-collapse:collapse;width:100%;margin:16px 0;background:#fff}
th,td{text-align:left;padding:6px 10px;border-bottom:1px solid #d0d7de;vertical-align:top}
th{width:34%;font-weight:600}
.chart{background:#fff;border:1px solid #d0d7de;border-radius:6px;margin:8px 0;max-width:100%;height:auto}
.chart-title{font-weight:600;font-size:13px}
.axis,.empty{font-size:11px;fill:#57606a}
.grid{stroke:#d0d7de;stroke-width:1}
.unverified{color:#cf222e}
footer{color:#57606a;font-size:12px}`;

/** With several databases: each one's state and newest verified backup (its own page is in its vault). */
function databaseTable(report: StatusReport): string {
  if (report.databases.length < 2) return '';
  const rows = report.databases
    .map(
      (d) =>
        `<tr><td>${escapeHtml(d.database ?? '(top level)')}</td><td${d.state === 'ok' ? '' : ' class="unverified"'}>${escapeHtml(d.state)}</td><td>${escapeHtml(d.newestVerified ? `${d.newestVerified.backupId}, ${d.newestVerified.ageHours} h old` : 'none')}</td></tr>`,
    )
    .join('');
  return `<h2>Databases</h2>\n<table class="databases"><tr><th>database</th><th>state</th><th>newest verified backup</th></tr>${rows}</table>`;
}

/** Render's line (when watched): each fact against the plan, the failing ones in red. */
function providerTable(report: StatusReport): string {
  const provider = report.provider;
  if (!provider) return '';
  const rows = [
    ...providerFacts(provider).map(
      (fact) =>
        `<tr${fact.failing ? ' class="unverified"' : ''}><th>${escapeHtml(fact.name)}</th><td>${escapeHtml(fact.value)}</td></tr>`,
    ),
    ...provider.findings.map(
      (f) => `<tr class="unverified"><th>${escapeHtml(f.error)}</th><td>${escapeHtml(f.message)}</td></tr>`,
    ),
  ].join('');
  return `<h2>Render's own backups (the second line, ${escapeHtml(provider.postgresId)})</h2>\n<table class="provider">${rows}</table>`;
}

export function renderStatusHtml(report: StatusReport): string {
  const nights = report.nights;
  const at = (n: { createdAt: string }) => Date.parse(n.createdAt);
  const sizes = renderLineChart({
    title: 'Database and dump size',
    format: formatBytes,
    series: [
      {
        name: 'database',
        colour: '#0969da',
        points: nights.flatMap((n) =>
          n.databaseBytes === null ? [] : [{ at: at(n), value: n.databaseBytes, label: n.backupId }],
        ),
      },
      {
        name: 'dump',
        colour: '#8250df',
        points: nights.map((n) => ({ at: at(n), value: n.dumpBytes, label: n.backupId })),
      },
    ],
  });
  const durations = renderLineChart({
    title: 'Dump and restore time',
    format: seconds,
    series: [
      {
        name: 'dump',
        colour: '#8250df',
        points: nights.flatMap((n) =>
          n.dumpSeconds === null ? [] : [{ at: at(n), value: n.dumpSeconds, label: n.backupId }],
        ),
      },
      {
        name: 'restore (verification)',
        colour: '#1a7f37',
        points: nights.flatMap((n) =>
          n.restoreSeconds === null ? [] : [{ at: at(n), value: n.restoreSeconds, label: n.backupId }],
        ),
      },
    ],
  });
  const rows = facts(report)
    .map(([name, value]) => `<tr><th>${escapeHtml(name)}</th><td>${escapeHtml(value)}</td></tr>`)
    .join('');
  const recent = [...nights]
    .reverse()
    .slice(0, 30)
    .map(
      (n) =>
        `<tr><td>${escapeHtml(n.backupId)}</td><td>${escapeHtml(formatBytes(n.dumpBytes))}</td><td${n.verified ? '' : ' class="unverified"'}>${n.verified ? 'verified' : 'NOT verified'}</td></tr>`,
    )
    .join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>Backup status: ${escapeHtml(report.state)}</title>
<style>${style}</style></head>
<body><main>
<h1>Backup status</h1>
<p class="verdict" data-state="${escapeHtml(report.state)}" style="background:${stateColours[report.state]}">${escapeHtml(report.summary)}</p>
<table class="facts">${rows}</table>
${databaseTable(report)}
${providerTable(report)}
<h2>Last ${nights.length} backup(s), 90 days</h2>
${sizes}
${durations}
<h2>Recent backups</h2>
<table class="nights"><tr><th>backup</th><th>size</th><th>state</th></tr>${recent || '<tr><td colspan="3">none</td></tr>'}</table>
<footer>Generated ${escapeHtml(report.generatedAt)}. The same facts: status.json, BACKUP_STATUS.md, badge.svg.</footer>
</main></body></html>
`;
}
