/**
 * The status page (status/index.html): one self-contained HTML file naming the database(s), with the
 * verdict, the facts an operator asks first (age vs RPO, proof, last backup failure, last restore and
 * drill on their own rows, growth, cost), one chart per measure over the last 90 days with failed runs
 * marked, and the backups with their date, size, proof, state and reason. Readable on a 390 px phone. It makes no request of its own: styles are inline, charts are inline SVG, and its
 * Content-Security-Policy forbids anything else, so it opens the same from a presigned S3 link, a
 * local file or an e-mail attachment.
 */
import { proofWarning } from '../backup/manifest.ts';
import { formatDuration } from '../drill/evidence.ts';
import { formatBytes } from '../notify/messages.ts';
import { escapeHtml, type Marker, renderLineChart } from './chart.ts';
import { databaseNames, growthWords, providerFacts } from './render.ts';
import type { FailedRun, Night, OverallState, RunOutcome, StatusReport } from './status-report.ts';

const stateColours: Record<OverallState, string> = {
  ok: '#1a7f37',
  'last-run-failed': '#bc4c00',
  'check-failed': '#cf222e',
  stale: '#cf222e',
  'no-verified-backup': '#cf222e',
};

const seconds = (value: number) => formatDuration(value);
const hours = (value: number) => (value === 0 ? '0 h' : `${value.toFixed(value < 10 ? 1 : 0)} h`);
/** "2026-11-30 02:00 UTC" without the seconds nobody reads. */
const when = (iso: string) => `${iso.slice(0, 10)} ${iso.slice(11, 16)}`;

function runWords(run: RunOutcome | null): string {
  if (!run) return 'none in 30 days';
  if (run.status === 'SUCCEEDED') return `${when(run.at)} succeeded`;
  return `${when(run.at)} FAILED (${run.error}): ${run.cause ?? ''}`.trim();
}

function facts(report: StatusReport): [string, string][] {
  const newest = report.newestVerified;
  const drill = report.lastDrill;
  const failure = report.lastFailure;
  const drillRun = report.lastRuns.drill;
  const rate = report.successRate30d;
  const cost = report.estimatedMonthlyCost;
  // A drill run that failed after the newest evidence was recorded is the news.
  const failedDrillRun =
    drillRun && drillRun.status !== 'SUCCEEDED' && (!drill || drillRun.at > drill.at)
      ? ` Latest drill run ${runWords(drillRun)}`
      : '';
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
      'Last backup failure',
      failure
        ? `${when(failure.at)} ${failure.stateMachine}: ${failure.error}. ${failure.cause}`
        : 'none in 30 days',
    ],
    ['Last restore', runWords(report.lastRuns.restore)],
    [
      'Last drill',
      `${
        drill
          ? `${drill.drillId} ${drill.passed ? 'passed' : 'FAILED'}; RTO ${seconds(drill.observedRtoSeconds)} of ${drill.targetRtoHours} h: ${drill.withinRto ? 'within' : 'EXCEEDED'}.`
          : 'none yet.'
      }${failedDrillRun}`,
    ],
    [
      'Success rate (30 days)',
      rate.rate === null
        ? 'no runs'
        : `${(rate.rate * 100).toFixed(1)} % (${rate.succeeded} of ${rate.runs})`,
    ],
    ['Storage growth', growthWords(report)],
    [
      'Estimated AWS cost',
      cost ? `about $${cost.totalUsd.toFixed(2)} a month at list prices (${cost.pricesChecked})` : '-',
    ],
  ];
}

const style = `
body{font:15px/1.45 system-ui,sans-serif;margin:0;color:#1f2328;background:#f6f8fa;overflow-wrap:break-word}
main{max-width:720px;margin:0 auto;padding:24px 12px}
h1{font-size:24px;margin:8px 0}
.verdict{color:#fff;padding:14px 16px;border-radius:8px;font-weight:600}
table{border-collapse:collapse;width:100%;margin:16px 0;background:#fff}
th,td{text-align:left;padding:6px 8px;border-bottom:1px solid #d0d7de;vertical-align:top}
th{font-weight:600}
table.facts th{width:34%}
/* Backup ids, causes and URLs have no spaces: they may break anywhere rather than widen the page. */
table.facts td,table.databases td,td.reason,small{overflow-wrap:anywhere}
td.size,td.date span{white-space:nowrap}
small{color:#57606a;white-space:normal}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(300px,1fr));gap:8px;justify-items:center}
.chart{background:#fff;border:1px solid #d0d7de;border-radius:6px;width:100%;max-width:340px;height:auto}
.chart-title{font-weight:600;font-size:13px}
.axis,.empty{font-size:12px;fill:#57606a}
.grid{stroke:#d0d7de;stroke-width:1}
.axis-line,.tick{stroke:#57606a;stroke-width:1}
.limit{stroke:#cf222e;stroke-width:1.5;stroke-dasharray:5 3}
.limit-label,.failure-label{fill:#cf222e}
.failure-line{stroke:#cf222e;stroke-width:1;stroke-dasharray:2 2}
.failure-mark{fill:#cf222e;font-size:12px;font-weight:700}
.unverified{color:#cf222e}
footer{color:#57606a;font-size:12px}
@media (max-width:480px){body{font-size:14px}main{padding:16px 8px}th,td{padding:4px}table.nights{font-size:13px}}`;

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
    ...providerFacts(provider, report.renderDrill).map(
      (fact) =>
        `<tr${fact.failing ? ' class="unverified"' : ''}><th>${escapeHtml(fact.name)}</th><td>${escapeHtml(fact.value)}</td></tr>`,
    ),
    ...provider.findings.map(
      (f) => `<tr class="unverified"><th>${escapeHtml(f.error)}</th><td>${escapeHtml(f.message)}</td></tr>`,
    ),
  ].join('');
  return `<h2>Render's own backups (the second line, ${escapeHtml(provider.postgresId)})</h2>\n<table class="provider">${rows}</table>`;
}

/**
 * The age of the newest verified backup through the 90 days: it rises until a verified backup resets
 * it, a sawtooth that the RPO line shows at a glance.
 */
function ageSeries(nights: Night[], now: number) {
  const points: { at: number; value: number; label: string }[] = [];
  let verifiedAt: number | undefined;
  for (const night of nights) {
    const at = Date.parse(night.createdAt);
    if (verifiedAt !== undefined)
      points.push({ at, value: (at - verifiedAt) / 3_600_000, label: night.backupId });
    if (night.verified) {
      verifiedAt = at;
      points.push({ at, value: 0, label: night.backupId });
    }
  }
  if (verifiedAt !== undefined) points.push({ at: now, value: (now - verifiedAt) / 3_600_000, label: 'now' });
  return points;
}

/** Failed runs, and backups left unverified without one: what the charts mark. */
function failureMarkers(report: StatusReport): Marker[] {
  const tied = new Set(report.failedRuns.map((r) => r.backupId));
  return [
    ...report.failedRuns.map((r) => ({
      at: Date.parse(r.at),
      label: r.error,
      title: `${when(r.at)} ${r.stateMachine} failed: ${r.error}: ${r.cause}`.slice(0, 300),
    })),
    ...report.nights
      .filter((n) => !n.verified && !tied.has(n.backupId))
      .map((n) => ({
        at: Date.parse(n.createdAt),
        label: 'not verified',
        title: `${n.backupId} not verified: ${n.reason ?? ''}`.slice(0, 300),
      })),
  ];
}

/** Date and time, each kept whole, so a phone wraps between them and never inside one. */
const dateCell = (iso: string) =>
  `<span>${escapeHtml(iso.slice(0, 10))}</span> <span>${escapeHtml(iso.slice(11, 16))}</span>`;

const proofWords = { checksums: 'counts + checksums', counts: 'counts' } as const;

/** The backups table: every backup and every failed run that left none, newest first. */
function backupRows(report: StatusReport): string[] {
  const runFor = new Map(report.failedRuns.flatMap((r) => (r.backupId ? [[r.backupId, r] as const] : [])));
  const reasonOf = (run: FailedRun) => `${run.error}: ${run.cause}`;
  const rows = [
    ...report.nights.map((n) => {
      const run = runFor.get(n.backupId);
      const state = n.verified ? 'verified' : run ? 'FAILED' : 'NOT verified';
      return {
        at: n.createdAt,
        html: `<tr data-state="${n.verified ? 'verified' : 'failed'}"><td class="date">${dateCell(n.createdAt)}<br><small>${escapeHtml(n.backupId)}</small></td><td class="size">${escapeHtml(formatBytes(n.dumpBytes))}</td><td>${escapeHtml(n.proof ? proofWords[n.proof] : '-')}</td><td${n.verified ? '' : ' class="unverified"'}>${escapeHtml(state)}</td><td class="reason">${escapeHtml(run ? reasonOf(run) : (n.reason ?? ''))}</td></tr>`,
      };
    }),
    ...report.failedRuns
      .filter((r) => r.backupId === null)
      .map((r) => ({
        at: r.at,
        html: `<tr data-state="failed"><td class="date">${dateCell(r.at)}<br><small>${escapeHtml(`${r.stateMachine} run, no backup stored`)}</small></td><td class="size">-</td><td>-</td><td class="unverified">FAILED</td><td class="reason">${escapeHtml(reasonOf(r))}</td></tr>`,
      })),
  ];
  return rows
    .sort((a, b) => Date.parse(b.at) - Date.parse(a.at))
    .slice(0, 30)
    .map((r) => r.html);
}

export function renderStatusHtml(report: StatusReport): string {
  const nights = report.nights;
  const now = Date.parse(report.generatedAt);
  const at = (n: { createdAt: string }) => Date.parse(n.createdAt);
  const markers = failureMarkers(report);
  const times = [...nights.map(at), ...markers.map((m) => m.at)];
  // Every chart shares one time axis: the 90 days' first backup or failure to now.
  const span = times.length ? { from: Math.min(...times), to: Math.max(now, ...times) } : undefined;
  const shared = { markers, ...(span ? { span } : {}) };
  const points = (value: (n: Night) => number | null) =>
    nights.flatMap((n) => {
      const v = value(n);
      return v === null ? [] : [{ at: at(n), value: v, label: n.backupId }];
    });
  const charts = [
    renderLineChart({
      ...shared,
      title: 'Dump size',
      format: formatBytes,
      series: [{ name: 'dump', colour: '#8250df', points: points((n) => n.dumpBytes) }],
    }),
    renderLineChart({
      ...shared,
      title: 'Database size',
      format: formatBytes,
      series: [{ name: 'database', colour: '#0969da', points: points((n) => n.databaseBytes) }],
    }),
    renderLineChart({
      ...shared,
      title: 'Dump and restore time',
      format: seconds,
      series: [
        { name: 'dump', colour: '#8250df', points: points((n) => n.dumpSeconds) },
        { name: 'restore (verification)', colour: '#1a7f37', points: points((n) => n.restoreSeconds) },
      ],
    }),
    renderLineChart({
      ...shared,
      title: 'Backup age vs RPO',
      format: hours,
      limit: { value: report.rpoHours, label: `RPO ${report.rpoHours} h` },
      series: [
        {
          name: 'newest verified backup age',
          colour: '#0969da',
          points: ageSeries(nights, now),
          dots: false,
        },
      ],
    }),
  ];
  const rows = facts(report)
    .map(([name, value]) => `<tr><th>${escapeHtml(name)}</th><td>${escapeHtml(value)}</td></tr>`)
    .join('');
  const backups = backupRows(report).join('');
  const names = databaseNames(report);
  const named = names ? `: ${names}` : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>Backup status${escapeHtml(named)}: ${escapeHtml(report.state)}</title>
<style>${style}</style></head>
<body><main>
<h1>Backup status${escapeHtml(named)}</h1>
<p class="verdict" data-state="${escapeHtml(report.state)}" style="background:${stateColours[report.state]}">${escapeHtml(report.summary)}</p>
<table class="facts">${rows}</table>
${databaseTable(report)}
${providerTable(report)}
<h2>Last ${nights.length} backup(s), 90 days${escapeHtml(report.databases.length > 1 ? ` (${report.databases[0]?.database ?? 'top level'})` : '')}</h2>
<div class="charts">
${charts.join('\n')}
</div>
<h2>Backups</h2>
<table class="nights"><tr><th>date (UTC)</th><th>size</th><th>proof</th><th>state</th><th>reason</th></tr>${backups || '<tr><td colspan="5">none</td></tr>'}</table>
<footer>Generated ${escapeHtml(report.generatedAt)}. The same facts: status.json, BACKUP_STATUS.md, badge.svg.</footer>
</main></body></html>
`;
}
