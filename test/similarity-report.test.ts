/**
 * The report's similarity section and criterion, over logs written by the middleware with real servers on 127.0.0.1:
 * production and its replica both reword their answers at random, a candidate that rewords the same way passes, one
 * with a planted share of wrong answers fails; without a replica the median is judged against the threshold; texts in
 * the section are masked, escaped and cut; judgements are summarised.
 */
import express from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import { buildReport, renderReport, type Report, type ShadowOptions } from '../lib/index.js';
import { ScoreHistogram, SimilarityAccumulator } from '../lib/report/similarity.js';
import { superiority } from '../lib/report/similarity-criterion.js';
import { sendRaw, serve, startShadowServer, tempLogFile, testScope } from './helpers.js';
import { seededRandom } from '../lib/report/stats/random.js';

const { closeLater, mirror, cleanUp } = testScope();
afterEach(cleanUp);

/** Four wordings of one answer: every pair scores 0.43–0.75 with rouge-l, above the 0.4 threshold. */
const WORDINGS = [
  (n: number) => `Your order ${n} shipped on Monday and should arrive by Thursday.`,
  (n: number) => `Order ${n} was shipped Monday, so expect it by Thursday.`,
  (n: number) => `We shipped your order ${n} on Monday and it should reach you by Thursday.`,
  (n: number) => `Your order ${n} left the warehouse on Monday and will arrive by Thursday.`,
];
const WRONG = 'Sorry, I cannot help with that request right now.';

/** A model that words each answer at random (its own seed); `wrong(i)` says which requests it answers wrongly. */
function wording(seed: number, wrong: (request: number) => boolean = () => false): (request: number) => string {
  const random = seededRandom(seed);
  return (request) => {
    const text = WORDINGS[Math.floor(random() * WORDINGS.length)]!(1000 + request);
    return wrong(request) ? WRONG : text;
  };
}

async function modelServer(answer: (request: number) => string) {
  return closeLater(
    await startShadowServer((req, res) => {
      const { request } = JSON.parse(req.body.toString('utf8')) as { request: number };
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ answer: answer(request) }));
    }),
  );
}

/** `requests` answered by production (rewording at random), mirrored to the candidate and, when given, a replica. */
async function shadowRun(options: { candidate: (request: number) => string; secondary?: (request: number) => string; requests: number; extra?: Omit<Partial<ShadowOptions>, 'target' | 'targets'> }): Promise<string> {
  const candidate = await modelServer(options.candidate);
  const secondary = options.secondary ? await modelServer(options.secondary) : undefined;
  const logFile = await tempLogFile();
  const shadow = mirror({
    target: candidate.url,
    name: 'v2',
    ...(secondary ? { secondary: secondary.url } : {}),
    logFile,
    compare: { similarity: { '$.answer': 'rouge-l' } },
    ...options.extra,
  });
  const production = wording(1);
  const app = express();
  app.post('/orders', shadow, express.json(), (req, res) => res.json({ answer: production((req.body as { request: number }).request) }));
  const server = closeLater(await serve(app));
  for (let request = 0; request < options.requests; request++) {
    await sendRaw(server.url, { path: '/orders', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ request }) });
  }
  await shadow.close();
  return logFile;
}

function similarityCriteria(report: Report) {
  return report.verdict.criteria.filter((c) => c.criterion === 'similarity');
}

describe('the similarity criterion, with production rewording itself', () => {
  it('passes a candidate that rewords the way production and its replica do', async () => {
    const logFile = await shadowRun({ candidate: wording(2), secondary: wording(3), requests: 200 });
    const report = await buildReport(logFile);
    const criteria = similarityCriteria(report);
    expect(criteria.map((c) => [c.route, c.status])).toEqual([
      [null, 'pass'],
      ['/orders', 'pass'],
    ]);
    expect(criteria[0]!.estimate).toBeGreaterThan(0.45);
    // The rewordings are all above the threshold: agreement passes too.
    const agreement = report.verdict.criteria.filter((c) => c.criterion === 'agreement');
    expect(agreement.length).toBeGreaterThan(0);
    expect(agreement.every((c) => c.status === 'pass')).toBe(true);
  });

  it('fails a candidate that rewords the same way but answers a planted 25% wrongly', async () => {
    const logFile = await shadowRun({ candidate: wording(2, (request) => request % 4 === 0), secondary: wording(3), requests: 200 });
    const report = await buildReport(logFile);
    const criteria = similarityCriteria(report);
    expect(criteria.map((c) => [c.route, c.status])).toEqual([
      [null, 'fail'],
      ['/orders', 'fail'],
    ]);
    expect(criteria[0]!.estimate).toBeLessThan(0.45);
    expect(criteria[0]!.reason).toMatch(/P\(candidate ≥ replica\) = 0\.\d\d below 0\.45/);
    const section = report.similarity!;
    const overall = section.cells.find((c) => c.target === 'v2' && c.route === null)!;
    expect(overall.below.rate).toBeCloseTo(0.25, 2);
    expect(section.cells.find((c) => c.role === 'secondary' && c.route === null)!.below.rate).toBe(0);
    // The lowest pairs are the planted answers, both texts side by side.
    expect(section.lowest).toHaveLength(5);
    expect(section.lowest.every((pair) => pair.score === 0 && pair.candidate === WRONG && /^[A-Z].*Thursday\.$/.test(pair.production!))).toBe(true);
    expect(report.verdict.failing).toEqual(['v2']);
  });
});

describe('the similarity criterion without a replica', () => {
  it('judges the median against the threshold: a candidate mostly wrong fails, one mostly right passes', async () => {
    const mostlyWrong = await buildReport(await shadowRun({ candidate: wording(2, (request) => request % 3 !== 0), requests: 60 }));
    expect(similarityCriteria(mostlyWrong)[0]).toMatchObject({ status: 'fail', threshold: 0.4, estimate: 0 });
    expect(similarityCriteria(mostlyWrong)[0]!.reason).toContain('no secondary');
    const mostlyRight = await buildReport(await shadowRun({ candidate: wording(2, (request) => request % 10 === 0), requests: 60 }));
    expect(similarityCriteria(mostlyRight)[0]).toMatchObject({ status: 'pass', threshold: 0.4 });
  });
});

describe('the similarity section', () => {
  it('shows texts as logged: masked, escaped in HTML, cut in a terminal', async () => {
    const hostile = `<script>alert(1)</script> write to jane@example.com ${'blah '.repeat(200)}`;
    const logFile = await shadowRun({ candidate: () => hostile, requests: 3, extra: { redactValues: ['email'] } });
    const report = await buildReport(logFile);
    const [pair] = report.similarity!.lowest;
    expect(pair!.candidate).toContain('[REDACTED:email]');
    expect(pair!.candidate).not.toContain('jane@example.com');
    expect(pair!.candidate!.length).toBeLessThanOrEqual(601);
    const html = renderReport(report, 'html');
    expect(html).toContain('<h2 id="similarity">Similarity</h2>');
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(html).not.toContain('<script>alert');
    expect(html).toMatch(/<svg [^>]*id="similarity-0"/);
    const text = renderReport(report, 'text');
    expect(text).toMatch(/^Similarity /m);
    expect(text).toMatch(/candidate: {2}"<script>alert\(1\)<\/script> write to \[REDACTED:email\] blah .{100,}…"$/m);
    expect(JSON.parse(renderReport(report, 'json')).similarity.cells[0]).toMatchObject({ target: 'v2', route: null, count: 3, median: 0 });
  });

  it('summarises judge scores, failures and the hooks\' counts', async () => {
    let calls = 0;
    const logFile = await shadowRun({
      candidate: wording(2),
      requests: 12,
      extra: {
        judgeSampleRate: 1,
        judge: (_input, _production, candidate) => {
          calls++;
          if (calls === 3) throw new Error('grader down');
          return { score: candidate.includes('warehouse') ? 0.5 : 1, reason: `reason ${calls}` };
        },
        judgeLimits: { maxCallsPerMinute: 10 },
      },
    });
    const report = await buildReport(logFile);
    const [judge] = report.similarity!.judgements;
    expect(judge).toMatchObject({ target: 'v2', role: 'candidate', hook: 'judge', count: 9, failed: { hook_error: 1 } });
    expect(report.similarity!.judging).toMatchObject({ sampled: 12, calls: 10, succeeded: 9, failed: { hook_error: 1 }, skipped: { budget: 2 } });
    expect(renderReport(report, 'text')).toMatch(/v2 judge: 9 scores, median .*; failed: hook_error 1/);
  });

  it('is absent from a report whose logs carry no scores', async () => {
    const logFile = await shadowRun({ candidate: wording(2), requests: 2, extra: { compare: {} } });
    const report = await buildReport(logFile);
    expect(report.similarity).toBeNull();
    expect(renderReport(report, 'text')).not.toMatch(/^Similarity/m);
  });
});

describe('SimilarityAccumulator and the rank statistic', () => {
  it('merges two halves into what one accumulator of the whole gives', () => {
    const whole = new SimilarityAccumulator();
    const halves = [new SimilarityAccumulator(), new SimilarityAccumulator()];
    for (let i = 0; i < 100; i++) {
      const comparison = {
        type: 'comparison' as const, requestId: `r${i}`, timestamp: '2026-01-01T00:00:00.000Z', target: 'v2', statusMatch: true, match: true, differences: [], latencyDeltaMs: 0,
        similarity: [{ path: '$.a', measure: 'rouge-l' as const, score: (i % 10) / 10, threshold: 0.4 }],
      };
      const entry = { requestId: `r${i}`, production: null, shadows: [], comparisons: [comparison], skipped: null, closedBy: 'complete' as const, orphan: null };
      whole.addComparison('/a', 'v2', comparison, entry);
      halves[i % 2]!.addComparison('/a', 'v2', comparison, entry);
    }
    halves[0]!.merge(halves[1]!);
    expect(halves[0]!.result(['/a'])).toEqual(whole.result(['/a']));
  });

  it('gives 0.5 for alike distributions and (1 − q)/2 with a share q below all', () => {
    const alike = new ScoreHistogram();
    for (let i = 0; i < 100; i++) alike.add(0.5 + (i % 5) / 10, 0.4);
    expect(superiority(alike.bins, alike.bins).effect).toBeCloseTo(0.5, 10);
    expect(superiority(alike.bins, alike.bins).p).toBeGreaterThan(0.4);
    const planted = new ScoreHistogram();
    for (let i = 0; i < 100; i++) planted.add(Math.floor(i / 5) % 5 === 0 ? 0 : 0.5 + (i % 5) / 10, 0.4);
    const { effect, p } = superiority(planted.bins, alike.bins);
    expect(effect).toBeLessThan(0.45);
    expect(p).toBeLessThan(0.05);
  });

  it('gives the median a distribution-free interval that holds it', () => {
    const scores = new ScoreHistogram();
    for (let i = 0; i < 101; i++) scores.add(i / 100, 0.5);
    expect(scores.median()).toEqual({ median: 0.5, low: expect.any(Number), high: expect.any(Number) });
    const { low, high } = scores.median()!;
    expect(low).toBeLessThan(0.5);
    expect(high).toBeGreaterThan(0.5);
    expect(high - low).toBeLessThan(0.25);
  });
});
