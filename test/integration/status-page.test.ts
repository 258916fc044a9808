/**
 * The status page in a real browser: Debian's Chromium (driven by playwright-core) opens the page the
 * status function writes, through a presigned link to a real S3 API (s3rver), as an operator would.
 * It must render its verdict and one chart per measure with a date axis and failed runs marked, make
 * no request but its own, log no console error and run no script, even when a failure's cause carries
 * markup; it names its database(s), keeps restores and drills out of the backups' last failure, gives
 * growth only from a week of history, and reads on a 390 px phone without sideways scrolling.
 */
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type Browser, chromium, type Page } from 'playwright-core';
import { renderStatusHtml } from '../../lib/report/html.ts';
import { publishStatus } from '../../lib/report/publish-status.ts';
import { statusKeys } from '../../lib/report/render.ts';
import { buildStatusReport } from '../../lib/report/status-report.ts';
import { BackupStore } from '../../lib/storage/backup-store.ts';
import { createS3Client } from '../../lib/storage/s3-client.ts';
import { chromiumArgs, findChromium } from '../../tools/dev/chromium.ts';
import { projectRoot } from '../../tools/local/environment.ts';
import { type LocalS3Server, startLocalS3Server } from '../../tools/local/s3-server.ts';
import { execution, putBackup } from '../support/status-fixture.ts';

const now = new Date('2026-11-30T06:00:00Z');
const artifacts = join(projectRoot, '.local', 'test-artifacts');
let s3: LocalS3Server;
let dir: string;
let browser: Browser;
let buckets = 0;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'status-page-'));
  s3 = await startLocalS3Server({ directory: dir });
  const executablePath = findChromium();
  if (!executablePath) throw new Error('no Chromium: `npm run install:chromium` installs it');
  browser = await chromium.launch({ executablePath, args: chromiumArgs });
  await mkdir(artifacts, { recursive: true });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await s3?.stop();
  await rm(dir, { recursive: true, force: true });
});

async function freshStore(): Promise<BackupStore> {
  const client = createS3Client({ endpoint: s3.endpoint });
  const bucket = `page-${++buckets}`;
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  return new BackupStore({ client, bucket });
}

/** Opens `url` and records what a careful reader of the page would object to. */
async function open(url: string | { html: string }, viewport = { width: 800, height: 900 }) {
  const page: Page = await browser.newPage({ viewport });
  const consoleErrors: string[] = [];
  const requests: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') consoleErrors.push(message.text());
  });
  page.on('pageerror', (error) => consoleErrors.push(error.message));
  page.on('request', (request) => requests.push(request.url()));
  if (typeof url === 'string') await page.goto(url, { waitUntil: 'load' });
  else await page.setContent(url.html, { waitUntil: 'load' });
  const charts = [];
  for (const svg of await page.locator('svg.chart').all()) {
    const lines = [];
    for (const line of await svg.locator('polyline').all()) {
      const box = await line.boundingBox();
      lines.push({
        series: await line.getAttribute('data-series'),
        width: box?.width ?? 0,
        height: box?.height ?? 0,
      });
    }
    charts.push({
      label: await svg.getAttribute('aria-label'),
      lines,
      dots: await svg.locator('circle').count(),
      rendered: (await svg.boundingBox())?.width ?? 0,
      xTicks: await svg.locator('text.x-tick').allTextContents(),
      failures: await svg
        .locator('g.failure')
        .evaluateAll((marks) => marks.map((m) => m.getAttribute('data-error'))),
    });
  }
  const factRows: Record<string, string> = {};
  for (const row of await page.locator('table.facts tr').all()) {
    factRows[(await row.locator('th').textContent()) ?? ''] = (await row.locator('td').textContent()) ?? '';
  }
  const nightRows: string[][] = [];
  for (const row of (await page.locator('table.nights tr').all()).slice(1)) {
    nightRows.push(await row.locator('td').allTextContents());
  }
  const facts = {
    heading: (await page.locator('h1').textContent()) ?? '',
    verdict: (await page.locator('.verdict').textContent()) ?? '',
    scripts: await page.locator('script').count(),
    charts,
    facts: factRows,
    nightsHeader: await page.locator('table.nights tr').first().locator('th').allTextContents(),
    nightRows,
    nights: (await page.locator('table.nights tr').count()) - 1,
    injected: await page.locator('img, iframe').count(),
  };
  return { page, consoleErrors, requests, facts };
}

/** Forty nights of a growing database, one unverified; written into `store` as the pipeline would. */
async function putFortyNights(store: BackupStore): Promise<void> {
  for (let night = 39; night >= 0; night--) {
    const grown = 40 - night;
    await putBackup(store, {
      now,
      hoursAgo: night * 24 + 4,
      bytes: 50_000 + grown * 400,
      databaseBytes: 400_000 + grown * 3_000,
      dumpSeconds: 30 + (night % 5),
      restoreSeconds: 55 + (night % 7),
      verified: night !== 12,
    });
  }
}

const markup = '<script>alert(1)</script><img src="http://example.invalid/x.png">';
/** The forty nights' runs: a failed dump that stored nothing, and last night's content mismatch. */
const fortyNightsRuns = [
  execution({ now, hoursAgo: 28, status: 'SUCCEEDED' }),
  execution({ now, hoursAgo: 200, status: 'FAILED', error: 'DumpFailedError', cause: 'pg_dump exited 1' }),
  execution({ now, hoursAgo: 4, status: 'FAILED', error: 'ContentMismatchError', cause: markup }),
];

/** The status page of forty nights (and their runs), published to a fresh bucket: its presigned link. */
async function fortyNightsPage(): Promise<string> {
  const store = await freshStore();
  await putFortyNights(store);
  await publishStatus(store, {
    now,
    rpoHours: 24,
    rtoHours: 2,
    stage: 'prod',
    log: () => undefined,
    executions: fortyNightsRuns,
  });
  return store.presignedGetUrl(statusKeys.html, 600);
}

describe('status page', () => {
  // One chart per measure replaced the two shared ones: the dump line lay flat on the database's axis.
  it('renders 40 nights with one chart per measure through a presigned link, with no request of its own', async () => {
    const url = await fortyNightsPage();

    const { page, consoleErrors, requests, facts } = await open(url);
    const screenshot = join(artifacts, 'status-page.png');
    await page.screenshot({ path: screenshot, fullPage: true });
    await page.close();

    expect(consoleErrors).toEqual([]);
    expect(requests).toEqual([url]);
    expect(facts.scripts).toBe(0);
    expect(facts.injected).toBe(0);
    expect(facts.verdict).toMatch(/^LAST RUN FAILED \(ContentMismatchError\)/);
    expect(facts.heading).toBe('Backup status: shop');
    expect(facts.nights).toBe(30);
    expect(facts.charts.map((c) => c.label)).toEqual([
      'Dump size',
      'Database size',
      'Dump and restore time',
      'Backup age vs RPO',
    ]);
    const [dump, database, durations, age] = facts.charts;
    expect(dump?.lines.map((l) => l.series)).toEqual(['dump']);
    expect(database?.lines.map((l) => l.series)).toEqual(['database']);
    // Forty nights span the plot's width; on its own axis the dump's growth rises its line too.
    for (const chart of facts.charts) {
      for (const line of chart.lines) expect(line.width).toBeGreaterThan(200);
    }
    expect(dump?.lines[0]?.height).toBeGreaterThan(25);
    expect(database?.lines[0]?.height).toBeGreaterThan(25);
    expect(dump?.dots).toBe(40);
    // The unverified night has no restore time.
    expect(durations?.dots).toBe(40 + 39);
    // Age vs RPO: the unverified night lets the age climb to 48 h, over the 24 h line.
    expect(age?.lines[0]?.height).toBeGreaterThan(40);
    for (const chart of facts.charts) {
      // A date axis with ticks, no label twice.
      expect(chart.xTicks.length).toBeGreaterThanOrEqual(3);
      expect(new Set(chart.xTicks).size).toBe(chart.xTicks.length);
      // Each failed run marked with its error, and the unverified night.
      expect([...chart.failures].sort()).toEqual(['ContentMismatchError', 'DumpFailedError', 'not verified']);
      expect(chart.rendered).toBeGreaterThan(300);
    }
    expect(facts.nightsHeader).toEqual(['date (UTC)', 'size', 'proof', 'state', 'reason']);
    const [lastNight] = facts.nightRows;
    expect(lastNight?.[0]).toMatch(/^2026-11-30 02:00/);
    expect(lastNight?.[2]).toBe('counts');
    expect(lastNight?.[4]).toBe(`ContentMismatchError: ${markup}`);
    const dumpFailed = facts.nightRows.find((r) => r[3] === 'FAILED');
    expect(dumpFailed).toEqual([
      '2026-11-21 22:00backup run, no backup stored',
      '-',
      '-',
      'FAILED',
      'DumpFailedError: pg_dump exited 1',
    ]);
    const unverified = facts.nightRows.find((r) => r[3] === 'NOT verified');
    expect(unverified?.[4]).toBe('no verification record');
    expect((await stat(screenshot)).size).toBeGreaterThan(30_000);
  });

  it('renders an empty vault as NO VERIFIED BACKUP with empty charts and no errors', async () => {
    const store = await freshStore();
    const report = await buildStatusReport(store, { now, rpoHours: 24, rtoHours: 2 });
    const html = renderStatusHtml(report);
    await writeFile(join(artifacts, 'status-page-empty.html'), html);

    const { page, consoleErrors, facts } = await open({ html });
    await page.close();

    expect(consoleErrors).toEqual([]);
    expect(facts.verdict).toMatch(/^NO VERIFIED BACKUP/);
    expect(facts.charts).toHaveLength(4);
    expect(facts.charts.every((c) => c.lines.length === 0 && c.dots === 0)).toBe(true);
    expect(html).toContain('no data yet');
    expect(facts.nights).toBe(1); // the "none" row
  });

  it('reads on a 390 px phone: no sideways scrolling, chart text of 10 px or more', async () => {
    const url = await fortyNightsPage();

    const { page, consoleErrors, requests } = await open(url, { width: 390, height: 844 });
    const screenshot = join(artifacts, 'status-page-390.png');
    await page.screenshot({ path: screenshot, fullPage: true });
    const scrollWidth = await page.evaluate<number>('document.documentElement.scrollWidth');
    // Text inside an SVG is scaled with it: its size on screen is its font size times the scale.
    const chartTextPx = await page.evaluate<
      number[]
    >(`Array.from(document.querySelectorAll('svg.chart text'), (t) => {
      const svg = t.ownerSVGElement;
      const scale = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
      return parseFloat(getComputedStyle(t).fontSize) * scale;
    })`);
    await page.close();

    expect(consoleErrors).toEqual([]);
    expect(requests).toEqual([url]);
    expect(scrollWidth).toBeLessThanOrEqual(390);
    expect(chartTextPx.length).toBeGreaterThan(20);
    expect(Math.min(...chartTextPx)).toBeGreaterThanOrEqual(10);
    expect((await stat(screenshot)).size).toBeGreaterThan(30_000);
  });

  it("keeps a refused manual restore and a failed drill on their own rows, never as the backups' last failure", async () => {
    const store = await freshStore();
    await putBackup(store, { now, hoursAgo: 28, bytes: 50_000, verified: true });
    await putBackup(store, { now, hoursAgo: 4, bytes: 50_000, verified: true });
    const refused = 'refusing to restore into the production server (same system identifier)';
    const report = await buildStatusReport(store, {
      now,
      rpoHours: 24,
      rtoHours: 2,
      executions: [
        execution({ now, hoursAgo: 28, status: 'SUCCEEDED' }),
        execution({
          now,
          hoursAgo: 10,
          status: 'FAILED',
          error: 'ContentMismatchError',
          cause: 'orders differ',
        }),
        execution({ now, hoursAgo: 4, status: 'SUCCEEDED' }),
        execution({ now, hoursAgo: 3, status: 'FAILED', error: 'ScratchServerError', stateMachine: 'drill' }),
        execution({
          now,
          hoursAgo: 1,
          status: 'FAILED',
          error: 'ProductionTargetError',
          cause: refused,
          stateMachine: 'restore',
        }),
      ],
    });

    const { page, consoleErrors, facts } = await open({ html: renderStatusHtml(report) });
    await page.close();

    expect(consoleErrors).toEqual([]);
    // The newest backup run succeeded: the backups are OK whatever a restore was refused.
    expect(facts.verdict).toMatch(/^OK: /);
    expect(facts.facts['Last backup failure']).toMatch(
      /^2026-11-29 20:00 backup: ContentMismatchError\. orders differ/,
    );
    expect(facts.facts['Last restore']).toBe(`2026-11-30 05:00 FAILED (ProductionTargetError): ${refused}`);
    expect(facts.facts['Last drill']).toBe(
      'none yet. Latest drill run 2026-11-30 03:00 FAILED (ScratchServerError): staging refused',
    );
    expect(facts.charts[0]?.failures).toEqual(['ContentMismatchError']);
  });

  it('gives growth only from a week of backups, else "not enough history"', async () => {
    const hours = [2, 1];
    const young = await freshStore();
    for (const [i, hoursAgo] of hours.entries()) {
      await putBackup(young, { now, hoursAgo, bytes: 70_000 + i * 5_000, verified: true });
    }
    const week = await freshStore();
    for (let day = 8; day >= 0; day--) {
      await putBackup(week, {
        now,
        hoursAgo: day * 24 + 2,
        bytes: 70_000 + (8 - day) * 1_024,
        verified: true,
      });
    }
    const growthOf = async (store: BackupStore) => {
      const report = await buildStatusReport(store, { now, rpoHours: 24, rtoHours: 2 });
      const { page, facts } = await open({ html: renderStatusHtml(report) });
      await page.close();
      return { report, shown: facts.facts['Storage growth'] };
    };

    const short = await growthOf(young);
    const long = await growthOf(week);

    // An hour apart, 5,000 bytes would extrapolate to 117 KiB a day.
    expect(short.report.growthBytesPerDay).toBeNull();
    expect(short.shown).toBe('not enough history (0 of 7 days)');
    expect(long.report.growthBytesPerDay).toBe(1_024);
    expect(long.shown).toBe('1.0 KiB/day growing (over 8 days)');
  });

  it('names the database, and each database when the stage has several', async () => {
    const store = await freshStore();
    await putBackup(store, { now, hoursAgo: 4, bytes: 50_000, verified: true });
    await putBackup(store.forScope('crm'), {
      now,
      hoursAgo: 5,
      bytes: 20_000,
      verified: true,
      database: 'crm',
    });
    await publishStatus(store, { now, rpoHours: 24, rtoHours: 2, stage: 'prod', log: () => undefined });

    const phone = { width: 390, height: 844 };
    const top = await open(await store.presignedGetUrl(statusKeys.html, 600), phone);
    const own = await open(await store.forScope('crm').presignedGetUrl(statusKeys.html, 600));
    const topWidth = await top.page.evaluate<number>('document.documentElement.scrollWidth');
    await top.page.close();
    await own.page.close();

    expect(top.facts.heading).toBe('Backup status: shop, crm');
    expect(own.facts.heading).toBe('Backup status: crm');
    // The databases table, with its backup ids, fits a phone too.
    expect(topWidth).toBeLessThanOrEqual(390);
  });
});
