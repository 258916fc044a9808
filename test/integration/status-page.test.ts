/**
 * The status page in a real browser: Debian's Chromium (driven by playwright-core) opens the page the
 * status function writes, through a presigned link to a real S3 API (s3rver), as an operator would.
 * It must render its verdict and both charts, make no request but its own, log no console error and
 * run no script, even when a failure's cause carries markup.
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
async function open(url: string | { html: string }) {
  const page: Page = await browser.newPage({ viewport: { width: 800, height: 900 } });
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
    });
  }
  const facts = {
    verdict: (await page.locator('.verdict').textContent()) ?? '',
    scripts: await page.locator('script').count(),
    charts,
    nights: (await page.locator('table.nights tr').count()) - 1,
    injected: await page.locator('img, iframe').count(),
  };
  return { page, consoleErrors, requests, facts };
}

describe('status page', () => {
  it('renders 40 nights with both charts through a presigned link, with no request of its own', async () => {
    const store = await freshStore();
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
    const markup = '<script>alert(1)</script><img src="http://example.invalid/x.png">';
    await publishStatus(store, {
      now,
      rpoHours: 24,
      rtoHours: 2,
      stage: 'prod',
      log: () => undefined,
      executions: [
        execution({ now, hoursAgo: 28, status: 'SUCCEEDED' }),
        execution({ now, hoursAgo: 4, status: 'FAILED', error: 'ContentMismatchError', cause: markup }),
      ],
    });
    const url = await store.presignedGetUrl(statusKeys.html, 600);

    const { page, consoleErrors, requests, facts } = await open(url);
    const screenshot = join(artifacts, 'status-page.png');
    await page.screenshot({ path: screenshot, fullPage: true });
    await page.close();

    expect(consoleErrors).toEqual([]);
    expect(requests).toEqual([url]);
    expect(facts.scripts).toBe(0);
    expect(facts.injected).toBe(0);
    expect(facts.verdict).toMatch(/^LAST RUN FAILED \(ContentMismatchError\)/);
    expect(facts.nights).toBe(30);
    expect(facts.charts.map((c) => c.label)).toEqual(['Database and dump size', 'Dump and restore time']);
    const [sizes, durations] = facts.charts;
    expect(sizes?.lines.map((l) => l.series)).toEqual(['database', 'dump']);
    // Forty nights span the plot's width; growth rises the database line.
    for (const line of [...(sizes?.lines ?? []), ...(durations?.lines ?? [])]) {
      expect(line.width).toBeGreaterThan(400);
    }
    expect(sizes?.lines[0]?.height).toBeGreaterThan(10);
    expect(sizes?.dots).toBe(80);
    // The unverified night has no restore time.
    expect(durations?.dots).toBe(40 + 39);
    expect(sizes?.rendered).toBeGreaterThan(600);
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
    expect(facts.charts).toHaveLength(2);
    expect(facts.charts.every((c) => c.lines.length === 0 && c.dots === 0)).toBe(true);
    expect(html).toContain('no data yet');
    expect(facts.nights).toBe(1); // the "none" row
  });
});
