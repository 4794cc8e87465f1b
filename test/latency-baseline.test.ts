/**
 * Latency judged like for like, over logs written by the middleware with real servers on 127.0.0.1: with a secondary
 * (production's replica, timed by the same engine at the same moments as the candidate) the candidate is judged
 * against the replica, so an exact copy of production never fails latency and a planted +30 ms fails its route only;
 * without one the reason states the bias; answers the engine read more than `maxEngineDelayMs` late are left out and
 * counted.
 */
import { readFile, writeFile } from 'node:fs/promises';
import express from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import { buildReport, type Report } from '../lib/index.js';
import { sendRaw, serve, startShadowServer, tempLogFile, testScope } from './helpers.js';

const { closeLater, mirror, cleanUp } = testScope();
afterEach(cleanUp);

const ROUTES = ['/a', '/b'] as const;
const PER_ROUTE = 40;
/** Every model answers after this long, so a +30 ms shift is well past both thresholds (25 ms, 50%). */
const BASE_MS = 10;

const answerAfter = (ms: number, res: { setHeader(k: string, v: string): void; end(body: string): void }): void => {
  setTimeout(() => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ label: 'positive' }));
  }, ms);
};

/** A model server; `extraMs(path)` is added to its answer time on that path. */
async function modelServer(extraMs: (path: string) => number = () => 0) {
  return closeLater(await startShadowServer((req, res) => answerAfter(BASE_MS + extraMs(req.url), res)));
}

async function shadowRun(options: { candidateExtraMs?: (path: string) => number; secondary: boolean }): Promise<string> {
  const candidate = await modelServer(options.candidateExtraMs);
  const secondary = options.secondary ? await modelServer() : undefined;
  const logFile = await tempLogFile();
  const shadow = mirror({ target: candidate.url, name: 'v2', ...(secondary ? { secondary: secondary.url } : {}), logFile });
  const app = express();
  for (const route of ROUTES) app.post(route, shadow, (_req, res) => answerAfter(BASE_MS, res));
  const server = closeLater(await serve(app));
  for (let i = 0; i < PER_ROUTE; i++) {
    for (const route of ROUTES) await sendRaw(server.url, { path: route, headers: { 'content-type': 'application/json' }, body: '{}' });
  }
  await shadow.close();
  return logFile;
}

/**
 * The real logs' `engineDelayMs` is how late this (shared, loaded) machine ran the engine's loop, often over the 5 ms
 * default; these cases are about the baseline, so they take every answer. The bound has its own case, with the delays
 * stamped into a real log.
 */
const EVERY_ANSWER = { criteria: { maxEngineDelayMs: 86_400_000 } };

const latency = (report: Report, route: string | null) => report.verdict.criteria.find((c) => c.criterion === 'latency' && c.route === route);

describe('latency judged against production’s replica', () => {
  it('never fails an exact copy of production, and says what it was judged against', async () => {
    const report = await buildReport(await shadowRun({ secondary: true }), EVERY_ANSWER);
    for (const route of [null, ...ROUTES]) {
      const criterion = latency(report, route);
      expect(criterion?.status, criterion?.reason).not.toBe('fail');
      expect(criterion?.samples).toBeGreaterThanOrEqual(PER_ROUTE);
      expect(criterion?.reason).toContain("vs production's replica");
    }
  });

  it('fails a planted +30 ms on one route, and that route only; answers read late by the engine are left out', async () => {
    const logFile = await shadowRun({ secondary: true, candidateExtraMs: (path) => (path.startsWith('/b') ? 30 : 0) });
    const report = await buildReport(logFile, EVERY_ANSWER);
    expect(latency(report, '/b')?.status).toBe('fail');
    expect(latency(report, '/b')?.reason).toMatch(/^\/b: candidate p50 \+[23]\d\.\d ms .* vs production's replica, Mann-Whitney/);
    expect(latency(report, '/a')?.status).toBe('pass');

    // The same log with the candidate's answers on /b stamped as read 50 ms late by the engine, every other answer on
    // time: those are left out and counted.
    const lines = (await readFile(logFile, 'utf8')).split('\n').filter((l) => l !== '');
    const records = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const onB = new Set(records.filter((r) => r.type === 'production' && r.route === '/b').map((r) => r.requestId));
    const stamped = records.map((r) => (r.type === 'shadow' ? { ...r, engineDelayMs: r.role === undefined && onB.has(r.requestId) ? 50 : 0 } : r));
    const delayedLog = await tempLogFile();
    await writeFile(delayedLog, stamped.map((r) => JSON.stringify(r)).join('\n') + '\n');
    const delayed = await buildReport(delayedLog);
    expect(latency(delayed, '/b')?.status).toBe('too_few');
    expect(latency(delayed, '/b')?.reason).toContain(`${PER_ROUTE} answers left out (read over 5 ms late by the engine)`);
    expect(latency(delayed, '/a')?.status).toBe('pass');
    expect(delayed.match.byTarget[0]?.latency.count).toBe(PER_ROUTE);
    // A bound above the stamped delay keeps them: the regression is back.
    expect(latency(await buildReport(delayedLog, { criteria: { maxEngineDelayMs: 100 } }), '/b')?.status).toBe('fail');
  });

  it('without a replica, judges against production and says the two are timed differently', async () => {
    const report = await buildReport(await shadowRun({ secondary: false }), EVERY_ANSWER);
    expect(latency(report, '/a')?.reason).toContain('vs production, timed in the app; the candidate is timed by the engine');
  });
});
