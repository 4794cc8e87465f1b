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
import { buildReport, getExitCode, ExitCode, renderReport, ReportBuilder, type Rate, type Report, type StreamSideFigures } from '../lib/report/index.js';
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
    const below = await buildReport(FIXTURE, { failUnderMatch: 0.99, gate: false });
    expect(below.verdict.status).toBe('fail');
    expect(below.verdict.headline).toContain('below the 99% gate');
    expect(getExitCode(below)).toBe(ExitCode.belowThreshold);
    const at = await buildReport(FIXTURE, { failUnderMatch: 7 / 9, gate: false });
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
    expect(() => compileLabelPath('$.a..b')).toThrow(/names a set of paths/);
    expect(evaluatePath({ 'x-label': 1 }, compileLabelPath('$.x-label'))).toBe(1);
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

/**
 * test/fixtures/streaming/shadow.log: a chat route answering in SSE, two candidates (model-a, model-b) and a production
 * replica (prod-replica, role "secondary"). One request a minute from 09:00; q6 is an ordinary JSON answer (content-length,
 * no stream measurements). Assembled outputs are {"text", "finish_reason"}; ms are durationMs, ttfb/chunks/events from `stream`.
 *
 *   id  production            prod-replica                model-a                                   model-b
 *       ms  ttfb ch ev        differs at                  ms  ttfb ch ev  differs at (noise)         ms  ttfb ch ev  differs at (noise)
 *   q1  100  10  5  4         $.text                      120  15  6  4   –                          90   8  3  2   $.text ($.text)
 *   q2  200  20  6  5         $.text, $.finish_reason     260  25  7  5   $.text ($.text)            ECONNRESET (3 ms)
 *   q3  300  30  7  6         –                           330  45  8  6   –                          280  12  4  3   $.text (–)
 *   q4  400  40  8  6         $.text                      480  60  9  6   $.text, $.finish_reason    350  16  5  3   $.text ($.text)
 *                                                                         ($.text)
 *   q5  500  50  9  7         timeout: no noise known     550  70 10  7   –                          420  20  6  5   –
 *   q6   50 (JSON)            –                            60 (JSON)      –                          40 (JSON)      –
 *
 * matchWithoutNoise (where the replica compared): model-a q1 q2 q3 q6 yes, q4 no ($.finish_reason is not noise for q4);
 * model-b q1 q4 q6 yes, q3 no.
 */
const STREAMING = ['test/fixtures/streaming/shadow.log'];

describe('streaming, several candidates and noise over the hand-computed SSE fixture', async () => {
  const report = await buildReport(STREAMING);
  const byTarget = Object.fromEntries(report.match.byTarget.map((t) => [t.target, t]));
  const interval = (rate: Rate | undefined) => [rate?.count, rate?.total, round3(rate?.rate ?? null), round3(rate?.low ?? null), round3(rate?.high ?? null)];

  it('keeps the replica out of the candidate figures: 12 candidate calls, 11 comparisons, its timeout not counted', () => {
    expect(report.totals).toMatchObject({
      requestsSeen: 6,
      mirrored: 6,
      production: 6,
      shadowCalls: 12, // model-a 6 + model-b 6 (one ECONNRESET)
      comparisons: 11,
      shadowErrors: 1,
      shadowErrorsByCode: { ECONNRESET: 1 },
      timeouts: 0,
      shadow5xx: 0,
    });
    expect(report.match.byTarget.map((t) => t.target)).toEqual(['model-a', 'model-b']);
    expect(report.statusAgreement).toEqual({ production: ['200'], shadow: ['200', 'ECONNRESET'], counts: [[11, 1]] });
  });

  it('gives each candidate its match rate with interval, raw and without noise, side by side', () => {
    expect(interval(report.match.overall)).toEqual([6, 11, 0.545, 0.28, 0.787]);
    expect(interval(report.match.withoutNoise)).toEqual([7, 9, 0.778, 0.453, 0.937]);
    expect(interval(byTarget['model-a']?.match)).toEqual([4, 6, 0.667, 0.3, 0.903]);
    expect(interval(byTarget['model-a']?.withoutNoise)).toEqual([4, 5, 0.8, 0.376, 0.964]); // q5 has no replica answer
    expect(interval(byTarget['model-b']?.match)).toEqual([2, 5, 0.4, 0.118, 0.769]);
    expect(interval(byTarget['model-b']?.withoutNoise)).toEqual([3, 4, 0.75, 0.301, 0.954]);
  });

  it('gives each candidate its errors and latency, and its ratio to production', () => {
    expect(byTarget['model-a']).toMatchObject({ shadowCalls: 6, shadowErrors: 0, timeouts: 0, shadow5xx: 0 });
    expect(byTarget['model-b']).toMatchObject({ shadowCalls: 6, shadowErrors: 1, timeouts: 0, shadow5xx: 0 });
    // production: 50 100 200 300 400 500 → ranks 3, 6, 6
    expect(report.latency.production).toMatchObject({ count: 6, p50: 200, p90: 500, p99: 500, max: 500 });
    // model-a: 60 120 260 330 480 550 → ranks 3, 6, 6
    expect(byTarget['model-a']?.latency).toMatchObject({ count: 6, p50: 260, p90: 550, p99: 550, max: 550 });
    expect(byTarget['model-a']?.ratio).toEqual({ p50: 1.3, p90: 1.1, p99: 1.1, max: 1.1 });
    // model-b answers: 40 90 280 350 420 → ranks 3, 5, 5
    expect(byTarget['model-b']?.latency).toMatchObject({ count: 5, p50: 280, p90: 420, p99: 420, max: 420 });
    expect(byTarget['model-b']?.ratio).toEqual({ p50: 1.4, p90: 0.84, p99: 0.84, max: 0.84 });
    // all candidate answers together (11): 40 60 90 120 260 280 330 350 420 480 550 → ranks 6, 10, 11
    expect(report.latency.shadow).toMatchObject({ count: 11, p50: 280, p90: 480, p99: 550, max: 550 });
  });

  it('gives time to first byte, total time and median chunks/events of streamed answers only, per side', () => {
    const streaming = report.streaming;
    const side = (s: StreamSideFigures | undefined) => ({
      name: s?.name,
      answers: s?.answers,
      ttfb: [s?.ttfb.p50, s?.ttfb.p90, s?.ttfb.p99, s?.ttfb.max],
      total: [s?.total.p50, s?.total.p90, s?.total.p99, s?.total.max],
      chunksP50: s?.chunksP50,
      eventsP50: s?.eventsP50,
    });
    // production q1–q5 (q6 is not streamed): ttfb 10..50, total 100..500, chunks 5..9, events 4 5 6 6 7 → rank 3, 5, 5
    expect(side(streaming?.production)).toEqual({ name: 'production', answers: 5, ttfb: [30, 50, 50, 50], total: [300, 500, 500, 500], chunksP50: 7, eventsP50: 6 });
    expect(streaming?.candidates.map((c) => c.name)).toEqual(['model-a', 'model-b']); // the replica streams too, but is no candidate
    // model-a q1–q5: ttfb 15 25 45 60 70, total 120 260 330 480 550, chunks 6..10, events 4 5 6 6 7
    expect(side(streaming?.candidates[0])).toEqual({ name: 'model-a', answers: 5, ttfb: [45, 70, 70, 70], total: [330, 550, 550, 550], chunksP50: 8, eventsP50: 6 });
    // model-b q1 q3 q4 q5: ttfb 8 12 16 20, total 90 280 350 420, chunks 3 4 5 6, events 2 3 3 5 → rank 2, 4, 4
    expect(side(streaming?.candidates[1])).toEqual({ name: 'model-b', answers: 4, ttfb: [12, 20, 20, 20], total: [280, 420, 420, 420], chunksP50: 4, eventsP50: 3 });
    expect(streaming?.production.ttfb.count).toBe(5);
    expect(streaming?.production.total.count).toBe(5);
  });

  it('gives the noise level per path from the replica, and how many candidate differences were marked noise there', () => {
    expect(report.match.secondary).toMatchObject({ count: 2, total: 5 }); // q3, q6 identical
    const noise = report.noise;
    expect(noise).toMatchObject({ targets: ['prod-replica'], calls: 6, errors: 1, comparisons: 5, distinctPaths: 2, otherPaths: 0 });
    expect(noise?.paths.map((p) => [p.path, ...interval(p.rate), p.markedInCandidates])).toEqual([
      ['$.text', 3, 5, 0.6, 0.231, 0.882, 4], // q1 q2 q4; marked: model-a q2 q4, model-b q1 q4
      ['$.finish_reason', 1, 5, 0.2, 0.036, 0.624, 0], // q2; model-a's q4 difference there is not noise for q4
    ]);
    expect(report.differences.paths).toEqual([
      { path: '$.text', count: 5, exampleRequestIds: ['q1', 'q2', 'q3'] },
      { path: '$.finish_reason', count: 1, exampleRequestIds: ['q4'] },
    ]);
  });

  it('omits the streaming and noise sections for logs without stream measurements or a replica', async () => {
    const basic = await buildReport(FIXTURE);
    expect(basic.streaming).toBeNull();
    expect(basic.noise).toBeNull();
    expect(renderReport(basic, 'text')).not.toMatch(/^(Streaming|Noise|Candidates)/m);
    expect(renderReport(basic, 'html')).not.toMatch(/id="(streaming|noise|candidates)"/);
  });

  it('names every candidate in the headline, noise-free rate first, when there are several and no gate', () => {
    expect(report.verdict).toMatchObject({
      status: 'none',
      failUnderMatch: null,
      failing: [],
      gate: null,
      noiseFree: true,
      headline:
        'Match rate by candidate: model-a noise-free 80.0% (95% CI 37.6%–96.4%) over 5 comparisons, raw 66.7%; ' +
        'model-b noise-free 75.0% (95% CI 30.1%–95.4%) over 4 comparisons, raw 40.0%.',
    });
  });
});

// These fixtures hold a handful of comparisons, too few for a gate that fails closed (gate.test.ts): `gate: false`
// looks at the match gate alone.
describe('the gate with several candidates: every candidate must pass', () => {
  it('fails when one candidate is below the gate even though the pooled noise-free rate (77.8%) is above it', async () => {
    const report = await buildReport(STREAMING, { failUnderMatch: 0.77, gate: false });
    expect(report.verdict.status).toBe('fail');
    expect(report.verdict.failing).toEqual(['model-b']);
    expect(report.verdict.headline).toBe('FAIL: 1 of 2 candidates below the 77% gate: model-b noise-free 75.0% (95% CI 30.1%–95.4%) over 4 comparisons, raw 40.0%.');
    expect(getExitCode(report)).toBe(ExitCode.belowThreshold);
  });

  it('passes when every candidate is at or above the gate', async () => {
    const report = await buildReport(STREAMING, { failUnderMatch: 0.75, gate: false });
    expect(report.verdict).toMatchObject({ status: 'pass', failing: [] });
    expect(report.verdict.headline).toMatch(/^PASS: all 2 candidates are at or above the 75% gate: model-a noise-free 80\.0% .*; model-b noise-free 75\.0% /);
    expect(getExitCode(report)).toBe(ExitCode.ok);
  });

  it('lists every failing candidate', async () => {
    const report = await buildReport(STREAMING, { failUnderMatch: 0.85, gate: false });
    expect(report.verdict.failing).toEqual(['model-a', 'model-b']);
    expect(report.verdict.headline).toMatch(/^FAIL: 2 of 2 candidates below the 85% gate: model-a noise-free 80\.0% .*; model-b noise-free 75\.0% /);
  });

  it('fails a candidate that answered nothing it could be compared on', () => {
    const builder = new ReportBuilder({ failUnderMatch: 0.5, gate: false });
    const t = '2024-05-01T10:00:00Z';
    builder.addEntry({
      requestId: 'r1', closedBy: 'complete', orphan: null, skipped: null,
      production: { type: 'production', requestId: 'r1', timestamp: t, method: 'GET', path: '/p', route: '/p', status: 200, durationMs: 5, request: { headers: {}, bodySource: 'none' }, response: { headers: {} } },
      shadows: [
        { type: 'shadow', requestId: 'r1', timestamp: t, target: 'good', status: 200, durationMs: 7 },
        { type: 'shadow', requestId: 'r1', timestamp: t, target: 'down', durationMs: 1, error: { code: 'ECONNREFUSED', message: 'refused' } },
      ],
      comparisons: [{ type: 'comparison', requestId: 'r1', timestamp: t, target: 'good', statusMatch: true, match: true, differences: [], latencyDeltaMs: 2 }],
    });
    const report = builder.build();
    expect(report.match.overall).toMatchObject({ count: 1, total: 1 });
    expect(report.verdict.failing).toEqual(['down']);
    expect(report.verdict.headline).toBe('FAIL: 1 of 2 candidates below the 50% gate: down: no comparisons.');
    expect(getExitCode(report)).toBe(1);
  });

  it('names the single candidate as failing when there is only one', async () => {
    const report = await buildReport(FIXTURE, { failUnderMatch: 0.99 });
    expect(report.verdict.failing).toEqual(['model-v2']);
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
