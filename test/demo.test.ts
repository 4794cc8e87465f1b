/**
 * The demo end to end: `demo-app/run.ts` with small traffic, as `npm run demo` runs it (the package imported by its
 * name from dist/, which `npm test` builds first). Servers, log, report, metrics and shutdown are all real.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import type { ComparisonRecord, ProductionRecord, Report, ShadowLogRecord, ShadowRecord, SkippedRecord } from '../lib/index.js';
import { explain, MODELS, wordingDraw } from '../demo-app/models/models.js';
import { waitForRecords } from './helpers.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** Enough for the verdict to judge the planted flaw: about 40 negative sentences on /predict. */
const REQUESTS = 200;
/** The traffic generator's default share of requests to the streaming route: every fifth request. */
const GENERATE_REQUESTS = REQUESTS / 5;

interface RunManifest {
  pids: Record<string, number>;
  urls: Record<string, string>;
  logFile: string;
  reports: { html: string; json: string };
  metrics: string | null;
  traffic: {
    sent: number;
    byRoute: Record<string, number>;
    byStatus: Record<string, number>;
    errors: Record<string, number>;
    requestIds: string[];
    streams: { answers: number; events: number; incomplete: number };
  };
  exits: Record<string, { code: number | null; signal: string | null }>;
}

const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

/**
 * Runs the orchestrator into a temporary directory. Once its stdout matches `interrupt.when`, `interrupt.then` runs
 * (by default: until the log holds some production records), then the orchestrator gets SIGINT, as from a Ctrl-C.
 */
async function runDemo(
  args: string[],
  interrupt?: { when: RegExp; then?: (stdout: string, logFile: string) => Promise<void> },
): Promise<{ code: number | null; stdout: string; stderr: string; dir: string }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'express-shadow-demo-'));
  dirs.push(dir);
  const child = spawn(process.execPath, ['--import', 'tsx', 'demo-app/run.ts', ...args, '--log-dir', dir, '--out-dir', dir], {
    cwd: ROOT,
    env: { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  let interrupted = false;
  let failure: unknown;
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
    if (interrupt && !interrupted && interrupt.when.test(stdout)) {
      interrupted = true;
      // By default, let some requests through first, so some are in flight when Ctrl-C lands.
      const then = interrupt.then ?? ((_: string, logFile: string) => waitForRecords(logFile, (records) => records.filter((r) => r.type === 'production').length >= 20));
      then(stdout, path.join(dir, 'shadow.log'))
        .catch((error: unknown) => (failure = error))
        .finally(() => child.kill('SIGINT'));
    }
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const [code] = (await once(child, 'exit')) as [number | null];
  if (failure) throw failure;
  return { code, stdout, stderr, dir };
}

async function readManifest(dir: string): Promise<RunManifest> {
  return JSON.parse(await readFile(path.join(dir, 'run.json'), 'utf8')) as RunManifest;
}

async function readLog(file: string): Promise<ShadowLogRecord[]> {
  return (await readFile(file, 'utf8'))
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => JSON.parse(line) as ShadowLogRecord);
}

function expectNoServerLeft(manifest: RunManifest): void {
  expect(Object.keys(manifest.pids).sort()).toEqual(['gateway', 'v1', 'v1-replica', 'v2']);
  for (const [name, pid] of Object.entries(manifest.pids)) {
    expect(isAlive(pid), `${name} (pid ${pid}) is still running`).toBe(false);
    // Each left on the SIGTERM it was sent, after its drain; none had to be killed.
    expect(manifest.exits[name], `${name} did not stop cleanly`).toEqual({ code: 0, signal: null });
  }
}

/** The samples of a Prometheus text scrape, summed by name over the series whose labels include `labels`. */
function metricSum(scrape: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of scrape.split('\n')) {
    const match = /^(\w+)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const present = new Map([...(match[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([key, value]) => present.get(key) === value)) sum += Number(match[3]);
  }
  return sum;
}

/** A streamed POST as a client sees it: status, headers, the body and when each chunk of it arrived. */
async function postStream(url: string, body: unknown): Promise<{ status: number; headers: http.IncomingHttpHeaders; text: string; chunkTimes: number[] }> {
  const req = http.request(url, { method: 'POST', agent: false, headers: { 'content-type': 'application/json' } });
  req.end(JSON.stringify(body));
  const [res] = (await once(req, 'response')) as [http.IncomingMessage];
  const chunkTimes: number[] = [];
  let text = '';
  res.setEncoding('utf8').on('data', (chunk: string) => {
    chunkTimes.push(performance.now());
    text += chunk;
  });
  await once(res, 'end');
  return { status: res.statusCode ?? 0, headers: res.headers, text, chunkTimes };
}

async function getText(url: string): Promise<string> {
  const [res] = (await once(http.get(url, { agent: false }), 'response')) as [http.IncomingMessage];
  let text = '';
  res.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
  await once(res, 'end');
  return text;
}

/** What the demo's models stream: OpenAI-style delta chunks, then `[DONE]`; the text is the deltas joined. */
function assembleSse(body: string): { events: string[]; text: string } {
  const events = [...body.matchAll(/^data: (.*)$/gm)].map((m) => m[1]!);
  const text = events
    .filter((event) => event !== '[DONE]')
    .map((event) => (JSON.parse(event) as { choices: { delta: { content?: string } }[] }).choices[0]?.delta.content ?? '')
    .join('');
  return { events, text };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw error;
  }
}

describe('npm run demo', () => {
  it(
    'logs every request as a production/shadow pair, reports exactly the traffic sent, and leaves no server running',
    async () => {
      const { code, stdout, stderr, dir } = await runDemo(['--requests', String(REQUESTS), '--rate', '200', '--concurrency', '4']);
      expect(code, `demo exited with ${code}\n--- stdout\n${stdout}\n--- stderr\n${stderr}`).toBe(0);
      const manifest = await readManifest(dir);
      expectNoServerLeft(manifest);

      // The traffic: every request answered by production, a fifth of them streamed from /generate.
      expect(manifest.traffic.sent).toBe(REQUESTS);
      expect(manifest.traffic.byRoute).toEqual({ '/predict': REQUESTS - GENERATE_REQUESTS, '/generate': GENERATE_REQUESTS });
      expect(manifest.traffic.byStatus).toEqual({ '200': REQUESTS });
      expect(manifest.traffic.errors).toEqual({});
      expect(manifest.traffic.streams).toMatchObject({ answers: GENERATE_REQUESTS, incomplete: 0 });

      // The log pairs up: one production and one shadow record per mirrored request, joined by requestId.
      const records = await readLog(manifest.logFile);
      const production = records.filter((r): r is ProductionRecord => r.type === 'production');
      // The candidate's records; production's replica (role "secondary") answers every request too.
      const allShadows = records.filter((r): r is ShadowRecord => r.type === 'shadow');
      const allComparisons = records.filter((r): r is ComparisonRecord => r.type === 'comparison');
      const shadows = allShadows.filter((r) => r.role !== 'secondary');
      const comparisons = allComparisons.filter((r) => r.role !== 'secondary');
      expect(new Set(allShadows.filter((r) => r.role === 'secondary').map((r) => r.requestId))).toEqual(new Set(production.map((r) => r.requestId)));
      const skipped = records.filter((r): r is SkippedRecord => r.type === 'skipped');
      const productionIds = new Set(production.map((r) => r.requestId));
      expect(productionIds.size).toBe(production.length);
      expect(production.length).toBe(REQUESTS - skipped.length);
      expect(new Set(shadows.map((r) => r.requestId))).toEqual(productionIds);
      expect(shadows.length).toBe(production.length);
      // Every answer the client got carries the id its records are logged under.
      expect(new Set(manifest.traffic.requestIds)).toEqual(new Set([...productionIds, ...skipped.map((r) => r.requestId)]));
      // Production answered from v1, the shadow from v2, on the same request body.
      const routeOf = new Map(production.map((r) => [r.requestId, r.route]));
      const predict = production.filter((r) => r.route === '/predict');
      const generate = production.filter((r) => r.route === '/generate');
      expect(predict.length + generate.length).toBe(production.length);
      expect(generate.length).toBe(GENERATE_REQUESTS - skipped.filter((r) => r.route === '/generate').length);
      for (const record of predict) {
        expect(record.path).toBe('/predict');
        expect(record.response.body).toMatchObject({ version: 'v1' });
        expect(record.response.stream).toBeUndefined();
      }
      const answered = shadows.filter((r) => r.status === 200 && routeOf.get(r.requestId) === '/predict');
      // Each loop below checks something of every record: none may pass on an empty set.
      expect(predict.length).toBeGreaterThan(0);
      expect(generate.length).toBeGreaterThan(0);
      expect(answered.length).toBeGreaterThan(0);
      for (const record of answered) expect(record.response?.body).toMatchObject({ version: 'v2' });

      // The streaming route: production's Server-Sent Events went through to the client, and both sides' records
      // carry the stream measurements, with the delta chunks assembled into what the model said.
      for (const record of generate) {
        expect(record.response.headers['content-type']).toMatch(/^text\/event-stream/);
        const stream = record.response.stream;
        expect(stream, `production ${record.requestId} has no stream measurements`).toBeDefined();
        expect(stream!.ttfbMs).toBeGreaterThanOrEqual(0);
        expect(stream!.ttfbMs).toBeLessThanOrEqual(record.durationMs);
        const sent = assembleSse(record.response.body as string);
        expect(stream!.events).toBe(sent.events.length);
        expect(stream!.events).toBeGreaterThanOrEqual(3); // at least one token, the finish chunk and [DONE]
        expect(sent.events.at(-1)).toBe('[DONE]');
        expect(stream!.assembled).toBe(sent.text);
        // A sentence naming the label, worded one of several ways.
        expect(stream!.assembled).toMatch(/^[A-Z].*\b(positive|negative|neutral)\b.*\.$/);
      }
      const streamedShadows = shadows.filter((r) => r.status === 200 && routeOf.get(r.requestId) === '/generate');
      expect(streamedShadows.length).toBeGreaterThan(0);
      for (const record of streamedShadows) {
        const stream = record.response?.stream;
        expect(stream, `shadow ${record.requestId} has no stream measurements`).toBeDefined();
        expect(stream!.ttfbMs).toBeGreaterThanOrEqual(0);
        expect(stream!.ttfbMs).toBeLessThanOrEqual(record.durationMs);
        expect(stream!.events).toBeGreaterThanOrEqual(3);
        expect(stream!.assembled).toMatch(/^[A-Z].*\.$/);
      }
      // The comparison scored the assembled sentences by similarity (not the raw chunks, which name the model): a
      // reworded sentence matches, and only one that shares too few words with production's does not.
      const streamedComparisons = allComparisons.filter((r) => routeOf.get(r.requestId) === '/generate' && r.statusMatch);
      expect(streamedComparisons.length).toBeGreaterThan(0);
      for (const comparison of streamedComparisons) {
        expect(comparison.similarity).toEqual([{ path: '$', measure: 'token-f1', score: expect.any(Number), threshold: 0.4 }]);
        expect(comparison.match).toBe(comparison.similarity![0]!.score >= 0.4);
      }
      const reworded = streamedComparisons.filter((c) => c.match && c.similarity![0]!.score < 1);
      expect(reworded.length).toBeGreaterThan(0);
      // A comparison for every shadow that answered (failures are logged with their error, not compared).
      expect(new Set(comparisons.map((r) => r.requestId))).toEqual(new Set(shadows.filter((r) => r.status !== undefined).map((r) => r.requestId)));
      // /health (the orchestrator's readiness check) is not mirrored.
      expect(records.some((r) => 'path' in r && r.path === '/health')).toBe(false);

      // The report counts what was sent and logged.
      const report = JSON.parse(await readFile(manifest.reports.json, 'utf8')) as Report;
      expect(report.totals.requestsSeen).toBe(REQUESTS);
      expect(report.totals.production).toBe(production.length);
      expect(report.totals.shadowCalls).toBe(shadows.length);
      expect(report.totals.comparisons).toBe(comparisons.length);
      expect(report.totals.skipped).toBe(skipped.length);
      expect(report.totals.shadowErrors + report.totals.shadow5xx).toBe(shadows.filter((r) => r.status !== 200).length);
      expect(report.match.overall.total).toBe(comparisons.length);
      expect(report.match.overall.count).toBe(comparisons.filter((r) => r.match).length);
      // The confusion matrix holds every pair where both models gave a label.
      expect(report.labels?.path).toBe('$.label');
      const matrixTotal = (report.labels?.matrix ?? []).flat().reduce((sum, n) => sum + n, 0);
      expect(matrixTotal).toBe(answered.length);
      // ...and a Streaming section over the /generate answers of both sides.
      expect(report.streaming).not.toBeNull();
      expect(report.streaming!.production.answers).toBe(generate.length);
      expect(report.streaming!.production.ttfb.p50).not.toBeNull();
      expect(report.streaming!.candidates.map((c) => [c.name, c.answers])).toEqual([['sentiment-v2', streamedShadows.length]]);
      expect(report.streaming!.candidates[0]!.ttfb.p50).not.toBeNull();
      expect(report.match.byRoute.map((r) => r.route).sort()).toEqual(['/generate', '/predict']);
      // The verdict catches the candidate's planted flaw (v2 reads only the first clause, models.ts): agreement on
      // /predict fails, and label "negative" is named (about 40 negatives here: marginal or failed); the demo still
      // succeeds. The full demo (400 requests) fails label "negative" outright.
      expect(report.verdict.status).toBe('fail');
      const criterion = (kind: string, where: (c: Report['verdict']['criteria'][number]) => boolean) =>
        report.verdict.criteria.find((c) => c.criterion === kind && where(c));
      expect(criterion('agreement', (c) => c.route === '/predict')?.status).toBe('fail');
      const negative = criterion('label_agreement', (c) => c.label === 'negative');
      expect(['fail', 'marginal']).toContain(negative?.status);
      expect(negative?.reason).toMatch(/^label "negative": candidate agrees on \d+\.\d% .* below the 90\.0% minimum/);
      expect(stdout).toMatch(/^Verdict: FAIL \(score /m);
      // The planted wrong quarter of v2's /generate sentences (models.ts): the similarity criterion, judged against how
      // far production's replica words its sentences from production's, names /generate (about 40 sentences here: a
      // regression, significant or not; the full demo fails it outright), and the Similarity section shows the pairs.
      const similarity = criterion('similarity', (c) => c.route === '/generate');
      expect(['fail', 'marginal']).toContain(similarity?.status);
      expect(similarity?.estimate).toBeLessThan(0.45);
      expect(report.similarity?.cells.find((c) => c.role === 'secondary' && c.route === '/generate')?.below.rate).toBe(0);
      expect(report.similarity?.lowest.length).toBeGreaterThan(0);
      expect(stdout).toMatch(/^Similarity \(each comparison's lowest text score/m);
      expect(stdout).toContain('lowest-scoring pairs:');

      // The last scrape of GET /metrics, taken before the gateway stopped, agrees with the log.
      expect(manifest.metrics).toBe(path.join(dir, 'metrics.txt'));
      const scrape = await readFile(manifest.metrics!, 'utf8');
      expect(metricSum(scrape, 'express_shadow_requests_seen_total')).toBe(REQUESTS);
      expect(metricSum(scrape, 'express_shadow_requests_mirrored_total', { route: '/predict' })).toBe(predict.length);
      expect(metricSum(scrape, 'express_shadow_requests_mirrored_total', { route: '/generate' })).toBe(generate.length);
      expect(metricSum(scrape, 'express_shadow_comparisons_total')).toBe(allComparisons.length);
      expect(metricSum(scrape, 'express_shadow_comparisons_total', { outcome: 'match' })).toBe(allComparisons.filter((r) => r.match).length);
      expect(metricSum(scrape, 'express_shadow_shadow_responses_total') + metricSum(scrape, 'express_shadow_shadow_errors_total')).toBe(allShadows.length);
      expect(metricSum(scrape, 'express_shadow_in_flight')).toBe(0);

      // What the person running it sees: the text report, where the HTML one went.
      expect(stdout).toContain('Labels at $.label');
      expect(stdout).toContain('Latency (ms)');
      expect(stdout).toMatch(/^Streaming \(answers with stream measurements; ms\)$/m);
      expect(stdout).toMatch(/^ {2}time to first byte /m);
      expect(stdout).toContain(`HTML report: ${manifest.reports.html}`);
      expect(await readFile(manifest.reports.html, 'utf8')).toMatch(/^<!doctype html>/i);
    },
    60_000,
  );

  it(
    'on Ctrl-C stops the traffic, drains the shadow and reports what was sent, with the log complete',
    async () => {
      const { code, stdout, stderr, dir } = await runDemo(['--requests', '5000', '--rate', '100', '--concurrency', '8'], { when: /Sending 5000 requests/ });
      expect(code, `demo exited with ${code}\n--- stdout\n${stdout}\n--- stderr\n${stderr}`).toBe(130);
      expect(stdout).toContain('Ctrl-C: no new requests');
      const manifest = await readManifest(dir);
      expectNoServerLeft(manifest);

      const sent = manifest.traffic.sent;
      expect(sent).toBeGreaterThan(0);
      expect(sent).toBeLessThan(5000);
      expect(manifest.traffic.byStatus).toEqual({ '200': sent });

      // Nothing half-written: every request the client saw answered has its records, every production its shadow.
      const records = await readLog(manifest.logFile);
      const production = records.filter((r) => r.type === 'production');
      const skipped = records.filter((r) => r.type === 'skipped');
      expect(production.length + skipped.length).toBe(sent);
      expect(new Set(records.filter((r) => r.type === 'shadow').map((r) => r.requestId))).toEqual(new Set(production.map((r) => r.requestId)));
      expect(records.at(-1)?.type).toBe('summary');

      const report = JSON.parse(await readFile(manifest.reports.json, 'utf8')) as Report;
      expect(report.totals.requestsSeen).toBe(sent);
      expect(report.totals.orphans).toEqual({ noShadow: 0, noProduction: 0, late: 0 });
    },
    60_000,
  );
  it(
    'in --serve mode prints working curl commands: /generate streams through unbuffered, /metrics counts it and is not mirrored',
    async () => {
      const seen: { generate?: Awaited<ReturnType<typeof postStream>>; predict?: string; metricsBefore?: string; metricsAfter?: string } = {};
      const { code, stdout, stderr, dir } = await runDemo(['--serve'], {
        when: /Press Ctrl-C to stop/,
        then: async (printed, logFile) => {
          // The commands the person is told to run, with the gateway's address as printed.
          const generateUrl = /curl -sN (http:\/\/127\.0\.0\.1:\d+\/generate) /.exec(printed)?.[1];
          const metricsUrl = /curl -s (http:\/\/127\.0\.0\.1:\d+\/metrics) /.exec(printed)?.[1];
          expect(generateUrl, printed).toBeDefined();
          expect(metricsUrl, printed).toBeDefined();
          seen.metricsBefore = await getText(metricsUrl!);
          seen.generate = await postStream(generateUrl!, { text: 'The battery is terrible and the screen is awful.' });
          seen.predict = (await postStream(generateUrl!.replace(/generate$/, 'predict'), { text: 'Love it!' })).text;
          // Both requests compared (or failed) for the candidate and for production's replica: four in the log. The
          // counters move when the engine reports back, right after it wrote them: scrape until they agree.
          const settled = (records: ShadowLogRecord[]) => records.filter((r) => r.type === 'comparison' || (r.type === 'shadow' && r.error !== undefined)).length;
          await waitForRecords(logFile, (records) => settled(records) === 4);
          const done = (scrape: string) => metricSum(scrape, 'express_shadow_comparisons_total') + metricSum(scrape, 'express_shadow_shadow_errors_total') === 4;
          for (let i = 0; i < 1000 && !done((seen.metricsAfter = await getText(metricsUrl!))); i++) await new Promise((resolve) => setImmediate(resolve));
        },
      });
      expect(code, `demo exited with ${code}\n--- stdout\n${stdout}\n--- stderr\n${stderr}`).toBe(0);
      const manifest = await readManifest(dir);
      expectNoServerLeft(manifest);

      // The client got production's stream as it was produced: several chunks over time, then [DONE].
      const generate = seen.generate!;
      expect(generate.status).toBe(200);
      expect(generate.headers['content-type']).toMatch(/^text\/event-stream/);
      expect(generate.headers['content-length']).toBeUndefined();
      expect(generate.headers['x-request-id']).toEqual(expect.any(String));
      const streamed = assembleSse(generate.text);
      expect(streamed.events.at(-1)).toBe('[DONE]');
      const sentence = 'The battery is terrible and the screen is awful.';
      expect(streamed.text).toBe(explain(MODELS.v1, sentence, wordingDraw(1, sentence)));
      expect(streamed.text).toMatch(/negative.*terrible and awful|terrible and awful.*negative/);
      // Not buffered into one sized body. (How many reads the client needed is up to the scheduler: tokens come 3 ms
      // apart, so a loaded machine can read the whole stream at once; counting chunks made this test flaky.)
      expect(generate.headers['transfer-encoding']).toBe('chunked');
      expect(JSON.parse(seen.predict!)).toMatchObject({ label: 'positive', version: 'v1' });

      // /metrics: nothing before, both requests after; its own scrapes (and /health) never counted or mirrored.
      expect(metricSum(seen.metricsBefore!, 'express_shadow_requests_seen_total')).toBe(0);
      expect(metricSum(seen.metricsAfter!, 'express_shadow_requests_seen_total')).toBe(2);
      expect(metricSum(seen.metricsAfter!, 'express_shadow_requests_mirrored_total', { route: '/generate' })).toBe(1);
      expect(metricSum(seen.metricsAfter!, 'express_shadow_requests_mirrored_total', { route: '/predict' })).toBe(1);
      const records = await readLog(manifest.logFile);
      expect(records.filter((r) => r.type === 'production').map((r) => (r as ProductionRecord).route).sort()).toEqual(['/generate', '/predict']);
      const production = records.find((r): r is ProductionRecord => r.type === 'production' && r.route === '/generate')!;
      expect(production.requestId).toBe(generate.headers['x-request-id']);
      expect(production.response.stream?.assembled).toBe(streamed.text);
      expect(production.response.stream?.events).toBe(streamed.events.length);
      expect(records.some((r) => 'path' in r && (r.path === '/metrics' || r.path === '/health'))).toBe(false);

      const report = JSON.parse(await readFile(manifest.reports.json, 'utf8')) as Report;
      expect(report.totals.requestsSeen).toBe(2);
      expect(report.streaming?.production.answers).toBe(1);
      expect(stdout).toMatch(/curl -s http:\/\/127\.0\.0\.1:\d+\/metrics/);
    },
    60_000,
  );
});
