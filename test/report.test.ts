/**
 * Every figure of the report over test/fixtures/basic, computed by hand from the fixture (see the table below).
 *
 * shadow-a.log (plain) and shadow-b.log.gz, target model-v2, one request a minute from 10:01:
 *   id   route           prod status/ms  shadow            match  labels prod/shadow  differences
 *   r01  /predict        200 / 10        200 / 12          yes    cat / cat
 *   r02  /predict        200 / 20        200 / 25          yes    dog / dog
 *   r03  /predict        200 / 30        200 / 33          yes    cat / cat
 *   r04  /predict        200 / 40        200 / 50          no     cat / dog           $.label, $.score 0.9→0.6
 *   r05  /predict        200 / 50        timeout (5000)    –
 *   r06  /classify/:id   200 / 60        200 / 90          yes    dog / dog
 *   r07  /classify/:id   200 / 70        200 / 70          yes    bird / bird         (production in a, shadow in b)
 *   r08  /classify/:id   404 / 80        500 / 100         no     – / –               $.error, $.score 0→0.5 (comparison in b)
 *   r09  /classify/:id   200 / 90        200 / 120         yes    cat / cat           (comparison line before shadow line)
 *   r10  /classify/42    200 / 100       200 / 110         yes    bird / bird         (route null, path /classify/42?debug=1)
 *   r11  /predict        200 / 25        ECONNREFUSED (3)  –
 *   o01  /predict        200 / 15        (never came)
 *   o02  –               (never came)    200 / 45
 *   s01 body_too_large, s02 queue_full, s03 queue_full; summaries: sampled_out 5+3, method 2 (seen 12+9);
 *   breaker open 10:05:30, half_open 10:06:00, closed 10:06:01; one unparseable line, one unrecognised record, a cut last line.
 */
import { describe, expect, it } from 'vitest';
import { buildReport, getExitCode, ExitCode, renderReport, ReportBuilder, type Report } from '../lib/report/index.js';
import { LatencyHistogram } from '../lib/report/histogram.js';
import { compileLabelPath, evaluatePath } from '../lib/report/label-path.js';
import { Timeline } from '../lib/report/timeline.js';
import { wilson } from '../lib/report/wilson.js';

const FIXTURE = ['test/fixtures/basic/shadow-a.log', 'test/fixtures/basic/shadow-b.log.gz'];

const round3 = (n: number | null): number | null => (n === null ? null : Math.round(n * 1000) / 1000);

describe('report figures over the hand-computed fixture', async () => {
  const report = await buildReport(FIXTURE, { labelPath: '$.label' });

  it('counts requests seen as mirrored + skipped + not mirrored (13 + 3 + 10)', () => {
    expect(report.totals).toMatchObject({
      requestsSeen: 26,
      summarySeen: 21,
      mirrored: 13, // r01–r11, o01, o02
      production: 12,
      shadowCalls: 12,
      comparisons: 9,
      skipped: 3,
      skippedByReason: { body_too_large: 1, queue_full: 2 },
      notMirrored: 10,
      notMirroredByReason: { method: 2, sampled_out: 8 },
    });
  });

  it('counts shadow errors by code, timeouts, 5xx answers and orphans', () => {
    expect(report.totals.shadowErrors).toBe(2);
    expect(report.totals.shadowErrorsByCode).toEqual({ ECONNREFUSED: 1, timeout: 1 });
    expect(report.totals.timeouts).toBe(1);
    expect(report.totals.shadow5xx).toBe(1);
    expect(report.totals.orphans).toEqual({ noShadow: 1, noProduction: 1, late: 0 });
  });

  it('gives the match rate over comparisons (7 of 9) with its 95% Wilson interval', () => {
    const { overall } = report.match;
    expect(overall.count).toBe(7);
    expect(overall.total).toBe(9);
    expect(round3(overall.rate)).toBe(0.778);
    expect(round3(overall.low)).toBe(0.453);
    expect(round3(overall.high)).toBe(0.937);
    expect(report.match.statusMatch).toMatchObject({ count: 8, total: 9 });
  });

  it('splits match rate, errors and p50 latency per route, using the path without query when no route matched', () => {
    const byRoute = Object.fromEntries(report.match.byRoute.map((r) => [r.route, r]));
    expect(report.match.byRoute.map((r) => r.route)).toEqual(['/predict', '/classify/:id', '/classify/42']);
    expect(byRoute['/predict']).toMatchObject({ requests: 7, shadowErrors: 2, timeouts: 1, productionP50: 25, shadowP50: 25 });
    expect(byRoute['/predict']?.match).toMatchObject({ count: 3, total: 4 });
    expect(round3(byRoute['/predict']?.match.low ?? null)).toBe(0.301);
    expect(round3(byRoute['/predict']?.match.high ?? null)).toBe(0.954);
    expect(byRoute['/classify/:id']).toMatchObject({ requests: 4, shadowErrors: 0, productionP50: 70, shadowP50: 90 });
    expect(byRoute['/classify/:id']?.match).toMatchObject({ count: 3, total: 4 });
    expect(byRoute['/classify/42']?.match).toMatchObject({ count: 1, total: 1, rate: 1 });
  });

  it('builds the status agreement matrix from joined pairs, errors as their code', () => {
    expect(report.statusAgreement).toEqual({
      production: ['200', '404'],
      shadow: ['200', '500', 'ECONNREFUSED', 'timeout'],
      counts: [
        [8, 0, 1, 1],
        [0, 1, 0, 0],
      ],
    });
  });

  it('gives latency p50/p90/p99/max by nearest rank, and shadow/production ratios', () => {
    // production (12): 10 15 20 25 30 40 50 60 70 80 90 100 → ranks 6, 11, 12
    expect(report.latency.production).toMatchObject({ count: 12, p50: 40, p90: 90, p99: 100, max: 100 });
    // shadow answers (10, errors left out): 12 25 33 45 50 70 90 100 110 120 → ranks 5, 9, 10
    expect(report.latency.shadow).toMatchObject({ count: 10, p50: 50, p90: 110, p99: 120, max: 120 });
    expect(round3(report.latency.ratio.p50)).toBe(1.25);
    expect(round3(report.latency.ratio.p90)).toBe(1.222);
    expect(round3(report.latency.ratio.p99)).toBe(1.2);
    expect(round3(report.latency.ratio.max)).toBe(1.2);
    expect(report.latency.production.cdf.at(-1)).toEqual([100, 1]);
    expect(report.latency.production.cdf[0]).toEqual([10, 1 / 12]);
  });

  it('lists the most frequent differing paths with counts and example requestIds', () => {
    expect(report.differences.paths).toEqual([
      { path: '$.score', count: 2, exampleRequestIds: ['r04', 'r08'] },
      { path: '$.error', count: 1, exampleRequestIds: ['r08'] },
      { path: '$.label', count: 1, exampleRequestIds: ['r04'] },
    ]);
    expect(report.differences.distinctPaths).toBe(3);
  });

  it('gives the mean absolute difference of numeric fields at differing paths', () => {
    // |0.9 − 0.6| = 0.3 and |0 − 0.5| = 0.5 → mean 0.4, max 0.5
    expect(report.differences.numeric).toHaveLength(1);
    expect(report.differences.numeric[0]?.path).toBe('$.score');
    expect(report.differences.numeric[0]?.count).toBe(2);
    expect(report.differences.numeric[0]?.meanAbsoluteDifference).toBeCloseTo(0.4, 10);
    expect(report.differences.numeric[0]?.maxAbsoluteDifference).toBe(0.5);
  });

  it('builds the label confusion matrix and agreement per class', () => {
    const labels = report.labels;
    expect(labels?.labels).toEqual(['bird', 'cat', 'dog']);
    expect(labels?.matrix).toEqual([
      [2, 0, 0],
      [0, 3, 1],
      [0, 0, 2],
    ]);
    expect(labels?.agreement).toMatchObject({ count: 7, total: 8 });
    expect(round3(labels?.agreement.low ?? null)).toBe(0.529);
    expect(round3(labels?.agreement.high ?? null)).toBe(0.978);
    expect(labels?.missing).toBe(1); // r08 has no label on either side
    expect(labels?.perLabel.map((l) => [l.label, l.agreement.count, l.agreement.total, l.shadowCount])).toEqual([
      ['bird', 2, 2, 2],
      ['cat', 3, 4, 3],
      ['dog', 2, 2, 3],
    ]);
  });

  it('lists breaker transitions in time order', () => {
    expect(report.breakers.transitions.map((t) => [t.timestamp, t.state])).toEqual([
      ['2024-05-01T10:05:30.000Z', 'open'],
      ['2024-05-01T10:06:00.000Z', 'half_open'],
      ['2024-05-01T10:06:01.000Z', 'closed'],
    ]);
  });

  it('reports what it could not read', () => {
    expect(report.reading).toMatchObject({ unparseable: 1, unrecognised: 1, truncated: 1, duplicates: 0, entries: 16 });
    expect(report.period).toEqual({ from: '2024-05-01T10:01:00.000Z', to: '2024-05-01T10:11:00.000Z' });
  });

  it('counts the timeline: requests, comparisons, matches, shadow errors per bucket', () => {
    const { buckets, bucketMs } = report.timeline;
    expect(bucketMs).toBe(15_000);
    const sum = (key: 'requests' | 'comparisons' | 'matches' | 'shadowErrors' | 'timeouts') => buckets.reduce((a, b) => a + b[key], 0);
    expect([sum('requests'), sum('comparisons'), sum('matches'), sum('shadowErrors'), sum('timeouts')]).toEqual([12, 9, 7, 2, 1]);
    const r04 = buckets.find((b) => b.start === '2024-05-01T10:04:00.000Z');
    expect(r04).toMatchObject({ requests: 1, comparisons: 1, matches: 0 });
  });
});

describe('report filters', () => {
  it('keeps one route with --route, and leaves out summary counts that are not per route', async () => {
    const report = await buildReport(FIXTURE, { route: '/predict' });
    expect(report.match.overall).toMatchObject({ count: 3, total: 4 });
    expect(report.totals).toMatchObject({ production: 7, skipped: 2, notMirrored: 0, shadowErrors: 2, requestsSeen: 7 + 2 });
    expect(report.totals.orphans).toEqual({ noShadow: 1, noProduction: 0, late: 0 });
  });

  it('keeps a time range with since (inclusive) and until (exclusive)', async () => {
    const report = await buildReport(FIXTURE, { since: '2024-05-01T10:02:00Z', until: '2024-05-01T10:06:00Z' });
    // r02, r03, r04, r05, o01 and s01, s02; the 10:05:00.500 summary (sampled_out 5, method 2)
    expect(report.totals.production).toBe(5);
    expect(report.match.overall).toMatchObject({ count: 2, total: 3 });
    expect(report.totals.skipped).toBe(2);
    expect(report.totals.notMirrored).toBe(7);
    expect(report.breakers.transitions.map((t) => t.state)).toEqual(['open']);
  });
});

describe('the verdict and the exit code', () => {
  it('fails the gate below the threshold and passes at or above it', async () => {
    const below = await buildReport(FIXTURE, { failUnderMatch: 0.99 });
    expect(below.verdict.status).toBe('fail');
    expect(below.verdict.headline).toContain('below the 99% gate');
    expect(getExitCode(below)).toBe(ExitCode.belowThreshold);
    const at = await buildReport(FIXTURE, { failUnderMatch: 7 / 9 });
    expect(at.verdict.status).toBe('pass');
    expect(getExitCode(at)).toBe(ExitCode.ok);
  });

  it('fails the gate when nothing was compared', () => {
    const report = new ReportBuilder({ failUnderMatch: 0.5 }).build();
    expect(report.verdict.status).toBe('fail');
    expect(getExitCode(report)).toBe(1);
  });

  it('has no verdict and exits 0 without a gate', () => {
    const report = new ReportBuilder().build();
    expect(report.verdict.status).toBe('none');
    expect(getExitCode(report)).toBe(0);
  });

  it('rejects bad options with a TypeError naming them', () => {
    expect(() => new ReportBuilder({ failUnderMatch: 99 })).toThrow(/failUnderMatch.*between 0 and 1/);
    expect(() => new ReportBuilder({ since: 'yesterday' })).toThrow(/since/);
    expect(() => new ReportBuilder({ labelPath: 'label' })).toThrow(/must start with "\$"/);
  });
});

describe('building blocks', () => {
  it('computes Wilson intervals that stay inside [0, 1]', () => {
    expect(wilson(0, 0)).toEqual({ count: 0, total: 0, rate: null, low: null, high: null });
    const all = wilson(10, 10);
    expect(all.high).toBe(1);
    expect(round3(all.low)).toBe(0.722);
    const none = wilson(0, 10);
    expect(none.low).toBe(0);
    expect(round3(none.high)).toBe(0.278);
  });

  it('keeps histogram percentiles within 2% of the exact nearest-rank value', () => {
    const histogram = new LatencyHistogram();
    const values: number[] = [];
    let seed = 42;
    for (let i = 0; i < 20_000; i++) {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      const v = Math.exp((seed / 2 ** 31) * 9) * 0.5; // 0.5 ms .. 4 s, log-uniform
      values.push(v);
      histogram.add(v);
    }
    values.sort((a, b) => a - b);
    for (const q of [0.5, 0.9, 0.99]) {
      const exact = values[Math.ceil(q * values.length) - 1] as number;
      expect(Math.abs((histogram.quantile(q) as number) - exact) / exact).toBeLessThan(0.02);
    }
    expect(histogram.max).toBe(values.at(-1));
  });

  it('evaluates label paths with names, indexes and quoted names', () => {
    const body = { predictions: [{ class: 'cat', 'a b': 1 }] };
    expect(evaluatePath(body, compileLabelPath('$.predictions[0].class'))).toBe('cat');
    expect(evaluatePath(body, compileLabelPath("$.predictions[0]['a b']"))).toBe(1);
    expect(evaluatePath(body, compileLabelPath('$.predictions[1].class'))).toBeUndefined();
    expect(evaluatePath('text', compileLabelPath('$.label'))).toBeUndefined();
    expect(() => compileLabelPath('$.a..b')).toThrow(/expected a name/);
  });

  it('coarsens the timeline so a long log keeps a bounded number of buckets', () => {
    const timeline = new Timeline();
    for (let minute = 0; minute < 7 * 24 * 60; minute += 7) timeline.add(Date.UTC(2024, 4, 1) + minute * 60_000, 'requests');
    const { bucketMs, buckets } = timeline.result();
    expect(buckets.length).toBeLessThanOrEqual(60);
    expect(bucketMs).toBe(6 * 3600_000);
    expect(buckets.reduce((a, b) => a + b.requests, 0)).toBe(Math.ceil((7 * 24 * 60) / 7));
  });

  it('keeps a production replica (role "secondary") out of the shadow figures and reports it as the noise floor', () => {
    const builder = new ReportBuilder();
    const t = '2024-05-01T10:00:00Z';
    builder.addEntry({
      requestId: 'r1', closedBy: 'complete', orphan: null, skipped: null,
      production: { type: 'production', requestId: 'r1', timestamp: t, method: 'GET', path: '/p', route: '/p', status: 200, durationMs: 5, request: { headers: {}, bodySource: 'none' }, response: { headers: {} } },
      shadows: [
        { type: 'shadow', requestId: 'r1', timestamp: t, target: 'model-v2', status: 200, durationMs: 7 },
        { type: 'shadow', requestId: 'r1', timestamp: t, target: 'replica', role: 'secondary', status: 503, durationMs: 9 },
      ],
      comparisons: [
        { type: 'comparison', requestId: 'r1', timestamp: t, target: 'model-v2', statusMatch: true, match: false, matchWithoutNoise: true, differences: [{ path: '$.ts' }], noise: ['$.ts'], latencyDeltaMs: 2 },
        { type: 'comparison', requestId: 'r1', timestamp: t, target: 'replica', role: 'secondary', statusMatch: false, match: false, differences: [{ path: '$.ts' }], latencyDeltaMs: 4 },
      ],
    });
    const report = builder.build();
    expect(report.totals.shadowCalls).toBe(1);
    expect(report.match.overall).toMatchObject({ count: 0, total: 1 });
    expect(report.match.withoutNoise).toMatchObject({ count: 1, total: 1 });
    expect(report.match.secondary).toMatchObject({ count: 0, total: 1 });
    expect(report.statusAgreement.shadow).toEqual(['200']);
    expect(report.totals.shadow5xx).toBe(0);
  });

  it('caps distinct differing paths and counts the rest', () => {
    const builder = new ReportBuilder({ maxDistinctPaths: 2, topPaths: 5 });
    builder.addEntry({
      requestId: 'x', production: null, shadows: [], skipped: null, closedBy: 'complete', orphan: null,
      comparisons: [{ type: 'comparison', requestId: 'x', timestamp: '2024-05-01T10:00:00Z', target: 't', statusMatch: true, match: false, latencyDeltaMs: 0,
        differences: [{ path: '$.a' }, { path: '$.b' }, { path: '$.c' }, { path: '$.d' }] }],
    });
    const report = builder.build();
    expect(report.differences.paths.map((p) => p.path)).toEqual(['$.a', '$.b']);
    expect(report.differences.otherPaths).toBe(2);
  });
});

describe('renderers', async () => {
  const report: Report = await buildReport(FIXTURE, { labelPath: '$.label', failUnderMatch: 0.99 });

  it('renders JSON that is the report itself', () => {
    expect(JSON.parse(renderReport(report, 'json'))).toEqual(JSON.parse(JSON.stringify(report)));
  });

  it('renders text with colour only when asked', () => {
    expect(renderReport(report, 'text')).not.toContain('\u001b[');
    expect(renderReport(report, 'text', { color: true })).toContain('\u001b[1;31mFAIL');
  });

  it('renders self-contained HTML that escapes what came from the logs', () => {
    const builder = new ReportBuilder();
    builder.addEntry({
      requestId: '<img src=x onerror=alert(1)>', production: null, shadows: [], skipped: null, closedBy: 'complete', orphan: null,
      comparisons: [{ type: 'comparison', requestId: 'x', timestamp: '2024-05-01T10:00:00Z', target: 't', statusMatch: true, match: false, latencyDeltaMs: 0,
        differences: [{ path: '$["<script>alert(1)</script>"]' }] }],
    });
    const html = renderReport(builder.build(), 'html');
    expect(html).not.toContain('<script');
    expect(html).toContain('&lt;script&gt;');
    expect(html).not.toMatch(/(src|href)=["']?https?:/);
    expect(html).toContain("default-src 'none'");
  });
});
