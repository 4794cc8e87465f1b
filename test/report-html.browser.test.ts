/**
 * The HTML report in a real browser: Debian's headless Chromium loads the file, nothing is fetched from the network,
 * no console error, and every chart has a line drawn with a real size. A screenshot is saved to test-output/report.png.
 */
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import { buildReport, renderReport } from '../lib/report/index.js';

const CHROMIUM = '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) {
  console.warn(`report-html.browser.test: skipped, ${CHROMIUM} is missing (install Debian's "chromium" package; .ci/run does).`);
}

const ROOT = resolve(import.meta.dirname, '..');
const OUTPUT = join(ROOT, 'test-output');
let browser: Browser | undefined;

interface ChartInfo {
  id: string | null;
  lines: { series: string | null; width: number; height: number; length: number }[];
  dots: number;
}

const LAUNCH_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

async function launch(): Promise<Browser> {
  browser ??= await chromium.launch({ executablePath: CHROMIUM, args: LAUNCH_ARGS });
  return browser;
}

afterAll(async () => {
  await browser?.close();
});

describe('HTML report in headless Chromium', () => {
  it.skipIf(!hasChromium)('loads offline without console errors and draws the three charts', async () => {
    const report = await buildReport(['test/fixtures/basic/shadow-a.log', 'test/fixtures/basic/shadow-b.log.gz'], {
      cwd: ROOT,
      labelPath: '$.label',
      failUnderMatch: 0.99,
      gate: false, // a handful of comparisons: the match gate alone (a gate would fail closed, gate.test.ts)
    });
    await mkdir(OUTPUT, { recursive: true });
    const file = join(OUTPUT, 'report.html');
    await writeFile(file, renderReport(report, 'html'));

    const page = await (await launch()).newPage({ viewport: { width: 1200, height: 900 } });
    const problems: string[] = [];
    const requests: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error' || message.type() === 'warning') problems.push(`${message.type()}: ${message.text()}`);
    });
    page.on('pageerror', (error) => problems.push(`pageerror: ${error.message}`));
    page.on('request', (request) => requests.push(request.url()));

    await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });

    expect(problems).toEqual([]);
    expect(requests.filter((url) => !url.startsWith('file:') && !url.startsWith('data:'))).toEqual([]);
    expect(await page.locator('#verdict').textContent()).toContain('FAIL: match rate 77.8%');

    // Runs in the page (this project's TypeScript has no DOM types, so it is passed as source).
    const charts = await page.evaluate<ChartInfo[]>(`
      [...document.querySelectorAll('svg[data-chart]')].map((svg) => ({
        id: svg.getAttribute('data-chart'),
        lines: [...svg.querySelectorAll('path.series')].map((path) => {
          const box = path.getBBox();
          return { series: path.getAttribute('data-series'), width: box.width, height: box.height, length: path.getTotalLength() };
        }),
        dots: svg.querySelectorAll('circle').length,
      }))
    `);
    expect(charts.map((c) => c.id)).toEqual(['latency-cdf', 'match-rate', 'error-rate']);
    const cdf = charts[0]?.lines ?? [];
    expect(cdf.map((l) => l.series)).toEqual(['production', 'shadow']);
    for (const line of cdf) {
      expect(line.width).toBeGreaterThan(100);
      expect(line.height).toBeGreaterThan(100);
    }
    // One request a minute: the rate charts have a point per request bucket.
    expect(charts[1]?.dots).toBe(9);
    expect(charts[2]?.dots).toBe(2 * 12);

    await page.screenshot({ path: join(OUTPUT, 'report.png'), fullPage: true });
    expect(existsSync(join(OUTPUT, 'report.png'))).toBe(true);
  });

  it.skipIf(!hasChromium)('shows candidates, streaming and noise tables for the SSE fixture', async () => {
    const report = await buildReport(['test/fixtures/streaming/shadow.log'], { cwd: ROOT, failUnderMatch: 0.77, gate: false });
    await mkdir(OUTPUT, { recursive: true });
    const file = join(OUTPUT, 'report-streaming.html');
    await writeFile(file, renderReport(report, 'html'));
    const page = await (await launch()).newPage({ viewport: { width: 1200, height: 900 } });
    const problems: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error' || message.type() === 'warning') problems.push(`${message.type()}: ${message.text()}`);
    });
    page.on('pageerror', (error) => problems.push(`pageerror: ${error.message}`));
    await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });

    expect(problems).toEqual([]);
    // The gate judges the noise-free rate (the fixture has a secondary), which leads the verdict.
    expect(await page.locator('#verdict').textContent()).toContain('FAIL: 1 of 2 candidates below the 77% gate: model-b noise-free 75.0%');
    // The first column of each table that follows the section heading, up to the next heading.
    const firstColumns = await page.evaluate<Record<string, string[][]>>(`
      Object.fromEntries(['candidates', 'streaming', 'noise'].map((id) => {
        const tables = [];
        for (let el = document.getElementById(id).nextElementSibling; el && el.tagName !== 'H2'; el = el.nextElementSibling) {
          if (el.tagName === 'TABLE') tables.push([...el.querySelectorAll('tr')].map((tr) => tr.firstElementChild.textContent));
        }
        return [id, tables];
      }))
    `);
    expect(firstColumns.candidates).toEqual([
      ['candidate', 'model-a', 'model-b'],
      ['route', '/chat', '/chat'],
      ['latency (ms)', 'production', 'model-a', 'model-a / production', 'model-b', 'model-b / production'],
    ]);
    expect(firstColumns.streaming).toEqual([
      ['time to first byte (ms)', 'production', 'model-a', 'model-b'],
      ['total time (ms)', 'production', 'model-a', 'model-b'],
      ['median per answer', 'production', 'model-a', 'model-b'],
    ]);
    expect(firstColumns.noise).toEqual([['path', '$.text', '$.finish_reason']]);
    await page.screenshot({ path: join(OUTPUT, 'report-streaming.png'), fullPage: true });
  });
});
