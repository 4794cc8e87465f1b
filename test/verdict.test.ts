/**
 * The verdict end to end: logs with known truth (test/planted-log.ts) read by the real reader, judged, rendered.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildReport, ExitCode, getExitCode, renderReport, ReportBuilder, type Report, type ReportOptions } from '../lib/report/index.js';
import { seededRandom } from '../lib/report/stats/random.js';
import { plantedLog, type PlantedOptions } from './planted-log.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'express-shadow-verdict-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function reportOf(planted: PlantedOptions, options: ReportOptions = {}): Promise<Report> {
  const file = join(dir, `log-${Math.random().toString(36).slice(2)}.log`);
  await writeFile(file, plantedLog(planted));
  return buildReport(file, options);
}

const failing = (report: Report) => report.verdict.criteria.filter((c) => c.status === 'fail');

describe('a planted regression: a 15% class flip and +30 ms on /embed, behind noisy production answers', () => {
  let report: Report;
  beforeAll(async () => {
    report = await reportOf({ seed: 1, flip: 0.15, embedShiftMs: 30 }, { labelPath: '$.label' });
  });

  it('leads with the noise-free match rate, not the raw rate that noise drives to zero', () => {
    expect(report.match.overall.rate).toBe(0);
    expect(report.verdict.noiseFree).toBe(true);
    // 1/3 of answers are negative, 15% of those flip: about 95% noise-free
    expect(report.match.withoutNoise.rate).toBeGreaterThan(0.93);
    expect(report.match.withoutNoise.rate).toBeLessThan(0.97);
    expect(report.verdict.headline).toMatch(/^Noise-free match rate 9\d\.\d% .* \(raw 0\.0%\)\.$/);
    expect(report.match.byRoute.length).toBeGreaterThan(0);
    for (const route of report.match.byRoute) expect(route.withoutNoise.rate).toBeGreaterThan(0.9);
  });

  it('fails, and exits 1, for the flipped label and the slower route', () => {
    expect(report.verdict.status).toBe('fail');
    expect(getExitCode(report)).toBe(ExitCode.belowThreshold);
    const blamed = failing(report).map((c) => [c.criterion, c.route ?? c.label ?? 'all routes']);
    // /embed's shift also shows in the pooled latency of all routes; nothing else is blamed
    expect(blamed).toEqual([
      ['latency', 'all routes'],
      ['latency', '/embed'],
      ['label_agreement', 'negative'],
    ]);
    expect(report.verdict.criteria.find((c) => c.criterion === 'latency' && c.route === '/classify')?.status).toBe('pass');
    expect(report.verdict.criteria.find((c) => c.criterion === 'label_agreement' && c.label === 'neutral')?.status).toBe('pass');
  });

  it('names the route and the label in one-line reasons with the effect and the adjusted p', () => {
    const latency = failing(report).find((c) => c.criterion === 'latency' && c.route === '/embed');
    expect(latency?.reason).toMatch(/^\/embed: candidate p50 \+\d+\.\d ms \(\+\d[\d,]*%, 95% CI \+\d+\.\d to \+\d+\.\d ms\), p99 [+−]\d+\.\d ms vs production's replica, Mann-Whitney p < 1e-9 \(Holm\)$/);
    expect(latency?.estimate).toBeGreaterThan(25);
    expect(latency?.estimate).toBeLessThan(35);
    const label = failing(report).find((c) => c.criterion === 'label_agreement');
    expect(label?.reason).toMatch(/^label "negative": candidate agrees on 8\d\.\d% \(95% CI .*\) below the 90\.0% minimum, p (<|=) /);
    expect(report.verdict.summary).toMatch(/^FAIL \(score \d+(\.\d)?\/100\): 9 passed, 0 marginal, 3 failed\.$/);
  });

  it('renders the verdict in text, JSON and HTML', () => {
    const text = renderReport(report, 'text');
    expect(text).toMatch(/^Verdict: FAIL \(score /m);
    expect(text).toMatch(/^\s+FAIL\s+latency\s+\/embed: candidate p50 \+/m);
    expect(text).toMatch(/^\s+FAIL\s+label agreement\s+label "negative"/m);
    expect(JSON.parse(renderReport(report, 'json')).verdict.criteria.length).toBe(report.verdict.criteria.length);
    const html = renderReport(report, 'html');
    expect(html).toContain('<div class="verdict fail" id="verdict">FAIL · score');
    expect(html).toContain('/embed: candidate p50 +');
  });

  it('judges agreement on the whole answer, noise-free, without a label path', async () => {
    const plain = await reportOf({ seed: 1, flip: 0.6, embedShiftMs: 0 });
    const agreement = plain.verdict.criteria.filter((c) => c.criterion === 'agreement' && c.status === 'fail');
    expect(agreement.map((c) => c.route)).toEqual(expect.arrayContaining([null, '/classify', '/embed']));
    expect(agreement[0]?.reason).toMatch(/noise-free match 8\d\.\d% .* below the 95\.0% minimum/);
  });
});

describe('nothing planted: no false alarm', () => {
  for (const seed of [2, 3, 4, 5, 6]) {
    it(`passes at seed ${seed}`, async () => {
      const report = await reportOf({ seed }, { labelPath: '$.label', scorePath: '$.score' });
      expect(failing(report)).toEqual([]);
      expect(report.verdict.status).toBe('pass');
      expect(report.verdict.score).toBeGreaterThanOrEqual(95);
      expect(getExitCode(report)).toBe(ExitCode.ok);
    });
  }
});

describe('score drift', () => {
  it('fails a shifted score distribution, naming the path, with KS, PSI and the mean absolute difference', async () => {
    const report = await reportOf({ seed: 7, scoreShift: 0.3 }, { scorePath: '$.score' });
    const drift = report.verdict.criteria.find((c) => c.criterion === 'score_drift');
    expect(drift?.status).toBe('fail');
    expect(drift?.reason).toMatch(/^\$\.score: PSI \d+\.\d{3}, KS D = 0\.\d{3} p < 1e-9 \(Holm\), mean \|Δ\| 0\.300$/);
  });
});

describe('noise that could not be measured', () => {
  it('says so and suggests ignorePaths from differing paths whose values look like times or ids', async () => {
    const report = await reportOf({ seed: 8, secondary: false });
    expect(report.verdict.noiseFree).toBe(false);
    expect(report.verdict.noiseNote).toMatch(/^Noise could not be measured/);
    expect(report.verdict.suggestedIgnorePaths).toEqual(['$.nonce', '$.servedAt']);
    expect(renderReport(report, 'text')).toContain('`ignorePaths`: "$.nonce", "$.servedAt"');
    // Raw match is 0% (every answer carries a fresh time and nonce): not a reason to reject, only to look.
    expect(report.match.overall.rate).toBe(0);
    const agreement = report.verdict.criteria.find((c) => c.criterion === 'agreement' && c.route === null);
    expect(agreement?.status).toBe('marginal');
    expect(agreement?.reason).toMatch(/; not failed: noise was not measured and differing values look like times or ids$/);
    expect(report.verdict.status).not.toBe('fail');
  });
});

describe('thresholds', () => {
  it('takes thresholds from options and too few samples are said, not judged', async () => {
    const report = await reportOf({ seed: 9, requests: 40, embedShiftMs: 30 }, { criteria: { minSamples: 25 } });
    const embed = report.verdict.criteria.find((c) => c.criterion === 'latency' && c.route === '/embed');
    expect(embed?.status).toBe('too_few');
    expect(embed?.reason).toBe('/embed: too few samples (20 < 25) to judge latency');
    const lenient = await reportOf({ seed: 1, embedShiftMs: 30 }, { criteria: { maxLatencyIncreaseMs: 50, maxLatencyIncreaseRatio: 100 } });
    expect(lenient.verdict.criteria.find((c) => c.criterion === 'latency' && c.route === '/embed')?.status).toBe('pass');
  });
});

describe('several candidates', () => {
  it('judges each against production and names the one that regressed', () => {
    const builder = new ReportBuilder();
    const random = seededRandom(21);
    const T0 = Date.parse('2026-04-01T00:00:00Z');
    for (let i = 0; i < 300; i++) {
      const requestId = `m${i}`;
      const timestamp = new Date(T0 + i * 100).toISOString();
      const ms = () => 10 + random() * 5;
      const shadow = (target: string, durationMs: number) => ({ type: 'shadow', requestId, timestamp, target, status: 200, durationMs, response: { headers: {}, body: {} } });
      const comparison = (target: string) => ({ type: 'comparison', requestId, timestamp, target, statusMatch: true, match: true, differences: [], latencyDeltaMs: 0 });
      builder.addEntry({
        requestId,
        production: { type: 'production', requestId, timestamp, method: 'POST', path: '/a', route: '/a', status: 200, durationMs: ms(), request: { headers: {}, bodySource: 'raw' }, response: { headers: {} } },
        shadows: [shadow('fast', ms()), shadow('slow', ms() + 40)],
        comparisons: [comparison('fast'), comparison('slow')],
        skipped: null,
        closedBy: 'complete',
        orphan: null,
      } as never);
    }
    const report = builder.build();
    expect(report.verdict.status).toBe('fail');
    expect(report.verdict.failing).toEqual(['slow']);
    const failed = report.verdict.criteria.filter((c) => c.status === 'fail');
    expect(failed.map((c) => c.reason.split(':')[0])).toEqual(['slow all routes', 'slow /a']);
    const fast = report.verdict.criteria.filter((c) => c.target === 'fast');
    expect(fast.length).toBeGreaterThan(0);
    expect(fast.every((c) => c.status === 'pass')).toBe(true);
  });
});
