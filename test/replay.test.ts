/**
 * `express-shadow replay` end to end: a real app with the middleware and a v2 shadow writes a log; that log is
 * replayed against a v3 server built to disagree on a known fraction of requests.
 */
import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { readFile, stat, writeFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { replayShadowLog, shadowMiddleware, buildReport, type ReplayOutcome, type ShadowLogRecord } from '../lib/index.js';
import { Pacer } from '../lib/replay/pacing.js';
import { listen, readRecords, recordsOfType, sendRaw, serve, startShadowServer, tempDir } from './helpers.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const labelOf = (id: number) => (id % 2 === 0 ? 'negative' : 'positive');
/** v3 flips the label of every request whose id is a multiple of 4. */
const v3LabelOf = (id: number) => (id % 4 === 0 ? (labelOf(id) === 'positive' ? 'negative' : 'positive') : labelOf(id));

const PREDICTS = 40; // ids 0..39: 10 disagree
const PARSED_IDS = [101, 102, 103, 105]; // none disagree; replayed as approximate
const ITEMS = 5;
const REPLAYABLE = PREDICTS + PARSED_IDS.length + ITEMS + 1; // + one GET /search with a credential in its query
const EXPECTED_MATCH = (REPLAYABLE - PREDICTS / 4) / REPLAYABLE;

interface Received {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  at: number;
}

interface V3 {
  url: string;
  received: Received[];
  mode: 'good' | 'fail';
  onReceive?: (count: number) => void;
  close(): Promise<void>;
}

/** The candidate: answers like production except on ids divisible by 4, and records what it received and when. */
async function startV3(mode: V3['mode'] = 'good'): Promise<V3> {
  const state = { received: [] as Received[], mode } as Pick<V3, 'received' | 'mode' | 'onReceive'>;
  const server = http.createServer((req, res) => {
    const at = performance.now();
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      state.received.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body, at });
      state.onReceive?.(state.received.length);
      if (state.mode === 'fail') {
        res.writeHead(503, { 'content-type': 'application/json' }).end('{"error":"overloaded"}');
        return;
      }
      res.setHeader('content-type', 'application/json');
      const url = new URL(req.url ?? '/', 'http://x');
      if (url.pathname.startsWith('/items/')) res.end(JSON.stringify({ id: url.pathname.slice(7), label: 'item' }));
      else if (url.pathname === '/search') res.end(JSON.stringify({ results: [url.searchParams.get('q')] }));
      else {
        const id = (JSON.parse(body) as { id: number }).id;
        res.end(JSON.stringify({ id, label: v3LabelOf(id) }));
      }
    });
  });
  const served = await listen(server, {});
  return Object.assign(state, { url: served.url, close: served.close }) as V3;
}

/**
 * Checks that no request reached the candidate before its turn: the k-th request received came at least `offsets[k]`
 * ms (sorted) after `startedAt`. A slow machine only makes requests later, so this cannot fail for want of speed;
 * a pacer that sent early, or ignored the schedule, fails it. 5 ms: Date.now (the pacer) and performance.now (here)
 * round differently, and a timer may fire up to a millisecond early.
 */
function expectNoneEarly(receivedAt: number[], startedAt: number, offsets: number[]): void {
  const times = [...receivedAt].sort((a, b) => a - b);
  const due = [...offsets].sort((a, b) => a - b);
  expect(times).toHaveLength(due.length);
  times.forEach((t, k) => expect(t - startedAt, `request ${k}`).toBeGreaterThanOrEqual(due[k]! - 5));
}

let dir: string;
let sourceLog: string;
let sourceGz: string;
let sourceProductionIds: Set<string>;

/** Runs the production app with the middleware and a v2 shadow, and sends it a known mix of requests. */
async function writeSourceLog(): Promise<void> {
  dir = await tempDir();
  sourceLog = path.join(dir, 'shadow.log');
  const v2 = await startShadowServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(req.body.length > 0 ? JSON.stringify({ id: (JSON.parse(req.body.toString()) as { id: number }).id, label: 'v2' }) : '{}');
  });
  const shadow = shadowMiddleware({ target: v2.url, name: 'v2', logFile: sourceLog, maxLoggedBodyBytes: 300 });
  const app = express();
  app.use('/parsed', express.json()); // parsed before the middleware sees it: bodySource "parsed"
  app.use(shadow);
  const predict = (req: express.Request, res: express.Response) => {
    const id = (req.body as { id: number }).id;
    res.json({ id, label: labelOf(id) });
  };
  app.post('/predict', express.json(), predict);
  app.post('/parsed/predict', predict);
  app.get('/items/:id', (req, res) => void res.json({ id: req.params.id, label: 'item' }));
  app.delete('/items/:id', (_req, res) => void res.json({ deleted: true }));
  app.get('/search', (req, res) => void res.json({ results: [req.query.q] }));
  const server = await serve(app);
  const json = { 'content-type': 'application/json' };
  const auth = (i: number) => ({ ...json, authorization: `Bearer prod-secret-${i}`, 'x-api-key': `key-${i}`, 'x-tenant': 'acme' });
  for (let id = 0; id < PREDICTS; id++) await sendRaw(server.url, { path: '/predict', headers: auth(id), body: JSON.stringify({ id, text: `hello ${id}` }) });
  for (const id of PARSED_IDS) await sendRaw(server.url, { path: '/parsed/predict', headers: json, body: JSON.stringify({ id, text: 'parsed' }) });
  for (let i = 0; i < ITEMS; i++) await sendRaw(server.url, { method: 'GET', path: `/items/${i}` });
  await sendRaw(server.url, { method: 'GET', path: '/search?q=cats&api_key=abc123' });
  for (let i = 0; i < 3; i++) await sendRaw(server.url, { method: 'DELETE', path: `/items/${i}` });
  for (let i = 0; i < 2; i++) await sendRaw(server.url, { path: '/predict', headers: json, body: JSON.stringify({ id: 300 + i, text: 'x'.repeat(400) }) });
  for (let i = 0; i < 2; i++) await sendRaw(server.url, { path: '/predict', headers: json, body: JSON.stringify({ id: 200 + i, password: 'hunter2' }) });
  await shadow.whenIdle();
  await shadow.close();
  await server.close();
  await v2.close();
  const records = await readRecords(sourceLog);
  sourceProductionIds = new Set(recordsOfType(records, 'production').map((r) => r.requestId));
  sourceGz = path.join(dir, 'shadow.log.gz');
  await writeFile(sourceGz, gzipSync(await readFile(sourceLog)));
}

let outCount = 0;
const newOut = () => path.join(dir, `replay-${++outCount}.log`);

const closers: (() => Promise<void>)[] = [];
async function v3Server(mode: V3['mode'] = 'good'): Promise<V3> {
  const v3 = await startV3(mode);
  closers.push(() => v3.close());
  return v3;
}

beforeAll(writeSourceLog, 30_000);
afterAll(async () => {
  for (const close of closers) await close();
});

const base = (v3: V3, out: string) => ({ target: v3.url, name: 'v3', out, methods: ['GET', 'POST'], headers: { authorization: 'Bearer v3-own' } });

describe('pacing: the schedule, with the clock given', () => {
  const t = 1_000_000;

  it('schedules each request at its original offset divided by speed, from the first one, without drifting when the loop runs late', () => {
    const pacer = new Pacer(undefined, 10);
    const original = Date.parse('2024-05-01T10:00:00Z');
    expect(pacer.delayFor(original, t)).toBe(0);
    expect(pacer.delayFor(original + 1000, t + 30)).toBe(70);
    // Asked 50 ms after its turn: sent at once, and the next one is still due at 300 ms, not 350.
    expect(pacer.delayFor(original + 2000, t + 250)).toBe(0);
    expect(pacer.delayFor(original + 3000, t + 260)).toBe(40);
    // A wait for a free slot shifts the rest of the timeline by the wait.
    pacer.rebase(t + 500, 100);
    expect(pacer.delayFor(original + 4000, t + 450)).toBe(50);
  });

  it('spaces requests 1 / rate apart, catches up after a late timer with at most a second of requests, and does not catch up a wait for a slot', () => {
    const pacer = new Pacer(25, undefined);
    const delays = (now: number, count: number) => Array.from({ length: count }, () => pacer.delayFor(0, now));
    expect(delays(t, 3)).toEqual([0, 40, 80]);
    // 10 s suspended: at most a second's worth (25 intervals) goes at once, then the spacing is back.
    expect(delays(t + 10_000, 27)).toEqual([...Array<number>(26).fill(0), 40]);
    // Waited 5 s for a slot: the schedule restarts from now, no burst.
    pacer.rebase(t + 15_000, 5000);
    expect(delays(t + 15_000, 2)).toEqual([0, 40]);
  });
});

describe('replayShadowLog', () => {
  it('writes one production, shadow and comparison record per replayable request, and counts the rest by reason', async () => {
    expect(sourceProductionIds.size).toBe(REPLAYABLE + 3 + 2 + 2);
    const v3 = await v3Server();
    const out = newOut();
    const summary = await replayShadowLog(sourceLog, base(v3, out)).done;

    expect(summary.end).toBe('completed');
    expect(summary.stats.replayed).toBe(REPLAYABLE);
    expect(summary.stats.notReplayable).toEqual({ method_not_allowed: 3, body_truncated: 2, body_redacted: 2 });
    expect(summary.stats.approximate).toBe(PARSED_IDS.length);
    expect(summary.stats.credentialsDropped).toBe(PREDICTS + 1);
    const records = await readRecords(out);
    for (const type of ['production', 'shadow', 'comparison'] as const) {
      const ofType = recordsOfType(records, type);
      expect(ofType).toHaveLength(REPLAYABLE);
      expect(new Set(ofType.map((r) => r.requestId)).size).toBe(REPLAYABLE);
      for (const record of ofType) expect(sourceProductionIds.has(record.requestId)).toBe(true);
    }
    const shadows = recordsOfType(records, 'shadow');
    expect(shadows.every((r) => r.target === 'v3' && r.status === 200)).toBe(true);
    const marked = shadows[0] as ShadowLogRecord & { replay: { at: string; source: string[]; originalTimestamp: string } };
    expect(marked.replay.source).toEqual([sourceLog]);
    expect(Date.parse(marked.replay.originalTimestamp)).toBeLessThanOrEqual(Date.parse(marked.replay.at));
    const approximate = shadows.filter((r) => (r as { replay?: { approximate?: true } }).replay?.approximate === true);
    expect(approximate).toHaveLength(PARSED_IDS.length);
    // The request the candidate got is production's, with its x-request-id.
    const predict = v3.received.find((r) => r.url === '/predict' && JSON.parse(r.body).id === 7)!;
    expect(JSON.parse(predict.body)).toEqual({ id: 7, text: 'hello 7' });
    expect(sourceProductionIds.has(String(predict.headers['x-request-id']))).toBe(true);
  });

  it('never sends a redacted credential: logged secrets are left out and the candidate gets only its own', async () => {
    const v3 = await v3Server();
    await replayShadowLog(sourceLog, base(v3, newOut())).done;
    expect(v3.received).toHaveLength(REPLAYABLE);
    for (const request of v3.received) {
      const values = Object.values(request.headers).flat().join('\n');
      expect(values).not.toContain('REDACTED');
      expect(values).not.toContain('prod-secret');
      expect(request.headers.authorization).toBe('Bearer v3-own');
      expect(request.headers['x-api-key']).toBeUndefined();
      expect(request.url).not.toContain('api_key');
    }
    expect(v3.received.find((r) => r.url.startsWith('/search'))?.url).toBe('/search?q=cats');
    expect(v3.received.filter((r) => r.headers['x-tenant'] === 'acme')).toHaveLength(PREDICTS);
  });

  it('gives the report the agreement v3 was built to give', async () => {
    const v3 = await v3Server();
    const out = newOut();
    await replayShadowLog(sourceLog, base(v3, out)).done;
    const report = await buildReport([out]);
    const figures = report.match.byTarget.find((t) => t.target === 'v3')!;
    expect(figures.match.total).toBe(REPLAYABLE);
    expect(figures.match.rate).toBeCloseTo(EXPECTED_MATCH, 10);
    // Each replay log carries its own copy of the production records; the reader drops the second copy as a repeat
    // (it may count one as late when its entry already closed), never as a request without its answer.
    expect(report.totals.orphans).toMatchObject({ noShadow: 0, noProduction: 0 });
  });

  it('reports several candidates side by side from their replay logs read together', async () => {
    const v3 = await v3Server();
    const v4 = await v3Server();
    const [out3, out4] = [newOut(), newOut()];
    await replayShadowLog(sourceLog, base(v3, out3)).done;
    // v4 is v3 without the flipped labels: the same server, compared with ignorePaths on the label.
    await replayShadowLog(sourceLog, { ...base(v4, out4), name: 'v4', compare: { ignorePaths: ['$.label'] } }).done;
    const report = await buildReport([out3, out4]);
    const byName = Object.fromEntries(report.match.byTarget.map((t) => [t.target, t.match]));
    expect(byName.v3).toMatchObject({ total: REPLAYABLE, count: REPLAYABLE - PREDICTS / 4 });
    expect(byName.v4).toMatchObject({ total: REPLAYABLE, count: REPLAYABLE });
    // Each replay log carries its own copy of the production records; the reader drops the second copy as a repeat
    // (it may count one as late when its entry already closed), never as a request without its answer.
    expect(report.totals.orphans).toMatchObject({ noShadow: 0, noProduction: 0 });
  });

  it('waits for the original inter-arrival times scaled by speed: no request reaches the candidate before its turn', async () => {
    // The source's /items requests, re-stamped one second apart.
    const records = (await readRecords(sourceLog)).filter((r) => 'method' in r && r.route === '/items/:id' && r.method === 'GET');
    const start = Date.parse('2024-05-01T10:00:00Z');
    const spaced = path.join(dir, 'spaced.log');
    await writeFile(spaced, records.map((r, i) => JSON.stringify({ ...r, timestamp: new Date(start + i * 1000).toISOString(), durationMs: 0 })).join('\n') + '\n');
    const v3 = await v3Server();
    const speed = 10;
    const startedAt = performance.now();
    await replayShadowLog(spaced, { ...base(v3, newOut()), speed }).done;
    expect(v3.received.map((r) => r.url)).toEqual(records.map((r) => (r as { path: string }).path));
    expectNoneEarly(
      v3.received.map((r) => r.at),
      startedAt,
      records.map((_, i) => (i * 1000) / speed),
    );
  });

  it('never sends faster than rate: the n-th request reaches the candidate no earlier than n / rate after the start', async () => {
    const v3 = await v3Server();
    const rate = 25;
    const startedAt = performance.now();
    await replayShadowLog(sourceLog, { ...base(v3, newOut()), rate }).done;
    expectNoneEarly(
      v3.received.map((r) => r.at),
      startedAt,
      v3.received.map((_, n) => (n * 1000) / rate),
    );
  });

  it('sends nothing and writes nothing on a dry run, and reports what would be sent', async () => {
    const v3 = await v3Server();
    const out = newOut();
    const outcomes: ReplayOutcome[] = [];
    const summary = await replayShadowLog(sourceLog, { ...base(v3, out), dryRun: true, onOutcome: (o) => outcomes.push(o) }).done;
    expect(summary.stats.replayed).toBe(REPLAYABLE);
    expect(outcomes.filter((o) => o.kind === 'dry_run')).toHaveLength(REPLAYABLE);
    expect(outcomes.filter((o) => o.kind === 'not_replayable')).toHaveLength(7);
    const sample = outcomes.find((o) => o.kind === 'dry_run' && o.url.endsWith('/predict'));
    expect(sample).toMatchObject({ method: 'POST', headers: { authorization: 'Bearer v3-own' } });
    expect(v3.received).toHaveLength(0);
    await expect(stat(out)).rejects.toThrow();
  });

  it('stops cleanly with every record written, and resume sends only what is left, each request once', async () => {
    const v3 = await v3Server();
    const out = newOut();
    const controller = new AbortController();
    v3.onReceive = (count) => {
      if (count === 10) controller.abort();
    };
    const first = await replayShadowLog(sourceLog, { ...base(v3, out), concurrency: 2, signal: controller.signal }).done;
    expect(first.end).toBe('stopped');
    const sentFirst = v3.received.length;
    expect(sentFirst).toBeLessThan(REPLAYABLE);
    expect(recordsOfType(await readRecords(out), 'shadow')).toHaveLength(sentFirst);

    await expect(replayShadowLog(sourceLog, base(v3, out)).done).rejects.toMatchObject({ code: 'ERR_SHADOW_REPLAY_OUTPUT_EXISTS' });
    const second = await replayShadowLog(sourceLog, { ...base(v3, out), resume: true }).done;
    expect(second.end).toBe('completed');
    expect(second.stats.filtered.already_replayed).toBe(sentFirst);
    expect(second.stats.replayed).toBe(REPLAYABLE - sentFirst);
    const shadows = recordsOfType(await readRecords(out), 'shadow');
    expect(new Set(shadows.map((r) => r.requestId)).size).toBe(REPLAYABLE);
    expect(shadows).toHaveLength(REPLAYABLE);
    expect(new Set(v3.received.map((r) => r.headers['x-request-id'])).size).toBe(v3.received.length);
  });

  it('pauses on a failing candidate (breaker) and resumes once it recovers', async () => {
    const v3 = await v3Server('fail');
    const out = newOut();
    const paused = await replayShadowLog(sourceLog, { ...base(v3, out), concurrency: 1, breaker: { failureThreshold: 3 } }).done;
    expect(paused.end).toBe('breaker_open');
    expect(paused.breakerReason).toMatch(/3 consecutive failures/);
    expect(v3.received).toHaveLength(3);
    const records = await readRecords(out);
    expect(recordsOfType(records, 'shadow').map((r) => r.status)).toEqual([503, 503, 503]);
    expect(recordsOfType(records, 'breaker')).toMatchObject([{ target: 'v3', state: 'open' }]);

    v3.mode = 'good';
    const resumed = await replayShadowLog(sourceLog, { ...base(v3, out), resume: true }).done;
    expect(resumed.end).toBe('completed');
    expect(recordsOfType(await readRecords(out), 'shadow')).toHaveLength(REPLAYABLE);
    expect(v3.received).toHaveLength(REPLAYABLE);
  });

  it('replays only what route, sample and limit select; sampling is the same in every run', async () => {
    const v3 = await v3Server();
    const route = await replayShadowLog(sourceLog, { ...base(v3, newOut()), route: '/items/:id' }).done;
    expect(route.stats.replayed).toBe(ITEMS);
    const ids = async () => {
      const out = newOut();
      await replayShadowLog(sourceLog, { ...base(v3, out), sample: 0.5 }).done;
      return recordsOfType(await readRecords(out), 'shadow').map((r) => r.requestId).sort();
    };
    const [a, b] = [await ids(), await ids()];
    expect(a).toEqual(b);
    expect(a.length).toBeGreaterThan(0);
    expect(a.length).toBeLessThan(REPLAYABLE);
    const limited = await replayShadowLog(sourceLog, { ...base(v3, newOut()), limit: 7 }).done;
    expect(limited.stats.replayed).toBe(7);
    expect(limited.stats.limitReached).toBe(true);
  });

  it('sends a request once when the logs repeat it', async () => {
    // The same records two minutes later: past the join window, so the reader yields them as entries of their own.
    const copy = path.join(dir, 'copy.log');
    const later = (await readRecords(sourceLog)).map((r) => JSON.stringify({ ...r, timestamp: new Date(Date.parse(r.timestamp) + 120_000).toISOString() }));
    await writeFile(copy, `${later.join('\n')}\n`);
    const v3 = await v3Server();
    const summary = await replayShadowLog([sourceLog, copy], { ...base(v3, newOut()), route: '/items/:id' }).done;
    expect(summary.stats.replayed).toBe(ITEMS);
    // Repeats are dropped by the reader (whole-run de-duplication) or, past its memory, by replay itself.
    expect(v3.received).toHaveLength(ITEMS);
  });

  it('applies a transformRequest module with the middleware\'s hook contract', async () => {
    const hook = path.join(dir, 'transform.mjs');
    await writeFile(hook, `export default (request) => ({ headers: { ...request.headers, 'x-transformed': request.method } });\n`);
    const v3 = await v3Server();
    const summary = await replayShadowLog(sourceLog, { ...base(v3, newOut()), route: '/items/:id', transformRequest: hook }).done;
    expect(summary.stats.replayed).toBe(ITEMS);
    expect(v3.received.map((r) => r.headers['x-transformed'])).toEqual(Array(ITEMS).fill('GET'));
    expect(sourceProductionIds.has(String(v3.received[0]!.headers['x-request-id']))).toBe(true);
  });

  it('rejects bad options with a TypeError naming the option', () => {
    expect(() => replayShadowLog(sourceLog, { target: 'ftp://127.0.0.1', out: 'x.log' })).toThrow(/`target`/);
    expect(() => replayShadowLog(sourceLog, { target: 'http://127.0.0.1:1', out: 'x.log', rat: 5 } as never)).toThrow(/Did you mean `rate`/);
    expect(() => replayShadowLog(sourceLog, { target: 'http://127.0.0.1:1', out: 'x.log', sample: 2 })).toThrow(TypeError);
    expect(() => replayShadowLog(sourceLog, { target: 'http://127.0.0.1:1' })).toThrow(/`out`/);
    expect(() => replayShadowLog(sourceLog, { target: 'http://127.0.0.1:1', out: sourceLog, resume: true })).toThrow(/must not be one of the logs/);
  });
});

/** Starts the CLI from source (tsx), with `input` on stdin. */
function startCli(args: string[], input?: string) {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'lib/cli/express-shadow.ts'), ...args], {
    cwd: ROOT,
    env: { ...process.env, TZ: 'UTC', FORCE_COLOR: '0' },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  if (input === undefined) child.stdin.end();
  else createReadStream(input).pipe(child.stdin);
  const result = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
  return { child, result };
}

const runCli = (args: string[], input?: string) => startCli(args, input).result;

describe('express-shadow replay (CLI)', () => {
  it('reads a gzipped log from stdin and prints a one-line summary with each reason counted', async () => {
    const v3 = await v3Server();
    const out = newOut();
    const result = await runCli(['replay', '-', '--target', v3.url, '--name', 'v3', '--out', out, '--methods', 'GET,POST', '--header', 'authorization: Bearer v3-own'], sourceGz);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(
      `replayed ${REPLAYABLE} to v3 (${REPLAYABLE - PREDICTS / 4} of ${REPLAYABLE} compared matched, 0 failed); not replayable 7 (method_not_allowed 3, body_redacted 2, body_truncated 2); approximate 4; sent without logged credentials ${PREDICTS + 1}\n`,
    );
    expect(recordsOfType(await readRecords(out), 'comparison')).toHaveLength(REPLAYABLE);
    expect(v3.received).toHaveLength(REPLAYABLE);
    expect(v3.received.every((r) => r.headers.authorization === 'Bearer v3-own')).toBe(true);
  }, 30_000);

  it('exits 4 when the breaker pauses the replay, and prints the command that resumes it', async () => {
    const v3 = await v3Server('fail');
    const out = newOut();
    const result = await runCli(['replay', sourceLog, '--target', v3.url, '--name', 'v3', '--out', out, '--methods', 'GET,POST', '--concurrency', '1', '--failure-threshold', '2']);
    expect(result.code).toBe(4);
    expect(result.stderr).toContain('replay paused: v3 is failing');
    expect(result.stderr).toContain(`express-shadow replay ${sourceLog} --target ${v3.url} --name v3 --out ${out} --methods GET,POST --concurrency 1 --failure-threshold 2 --resume`);
    expect(v3.received).toHaveLength(2);
  }, 30_000);

  it('stops cleanly on Ctrl-C with every record written, and prints the command that resumes it', async () => {
    const v3 = await v3Server();
    const out = newOut();
    const { child, result } = startCli(['replay', sourceLog, '--target', v3.url, '--name', 'v3', '--out', out, '--methods', 'GET,POST', '--rate', '20']);
    v3.onReceive = (count) => {
      if (count === 3) child.kill('SIGINT');
    };
    const { code, stderr } = await result;
    expect(code).toBe(130);
    expect(stderr).toContain('interrupted; every record so far is written');
    expect(stderr).toContain(`--rate 20 --resume`);
    expect(v3.received.length).toBeLessThan(REPLAYABLE);
    expect(recordsOfType(await readRecords(out), 'shadow')).toHaveLength(v3.received.length);
  }, 30_000);

  it('prints what would be sent on --dry-run', async () => {
    const v3 = await v3Server();
    const result = await runCli(['replay', sourceLog, '--target', v3.url, '--out', newOut(), '--methods', 'GET,POST', '--dry-run', '--route', '/items/:id']);
    expect(result.code).toBe(0);
    const lines = result.stdout.trim().split('\n');
    expect(lines.slice(0, ITEMS).every((line) => /^GET http:\/\/127\.0\.0\.1:\d+\/items\/\d 0 bytes/.test(line))).toBe(true);
    expect(lines.at(-1)).toMatch(/^dry run: 5 would be sent/);
    expect(v3.received).toHaveLength(0);
  }, 30_000);
});

describe('replay defaults: what the middleware mirrored, never a silent nothing, a down candidate spared', () => {
  it('replays every method the log holds when --methods is not given: the middleware mirrored them live', async () => {
    const v3 = await v3Server();
    const summary = await replayShadowLog(sourceLog, { target: v3.url, name: 'v3', out: newOut() }).done;
    // The three DELETEs were mirrored live; the POSTs, GETs and DELETEs all go again.
    expect(summary.stats.replayed).toBe(REPLAYABLE + 3);
    expect(summary.stats.notReplayable).toEqual({ body_truncated: 2, body_redacted: 2 });
    expect(summary.stats.methodsLeftOut).toEqual({});
    expect(new Set(v3.received.map((r) => r.method))).toEqual(new Set(['POST', 'GET', 'DELETE']));
    // --methods narrows it, and counts what it left out by method.
    const narrowed = await replayShadowLog(sourceLog, { target: v3.url, name: 'v3', out: newOut(), methods: ['get'] }).done;
    expect(narrowed.stats.replayed).toBe(ITEMS + 1);
    expect(narrowed.stats.methodsLeftOut).toEqual({ POST: PREDICTS + PARSED_IDS.length + 4, DELETE: 3 });
  });

  it('replays a log of POSTs with no --methods (CLI)', async () => {
    const posts = path.join(dir, 'posts.log');
    const records = await readRecords(sourceLog);
    const ids = new Set(recordsOfType(records, 'production').filter((r) => r.method === 'POST').map((r) => r.requestId));
    await writeFile(posts, `${records.filter((r) => 'requestId' in r && ids.has(r.requestId)).map((r) => JSON.stringify(r)).join('\n')}\n`);
    const v3 = await v3Server();
    const result = await runCli(['replay', posts, '--target', v3.url, '--name', 'v3', '--out', newOut()]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(new RegExp(`^replayed ${PREDICTS + PARSED_IDS.length} to v3 `));
    expect(v3.received.map((r) => r.method)).toEqual(Array<string>(PREDICTS + PARSED_IDS.length).fill('POST'));
  }, 30_000);

  it.each([
    [['--methods', 'PUT'], /nothing was replayed: of \d+ requests read, not replayable: method_not_allowed \d+.*; --methods left out POST 48, GET 6, DELETE 3: replay them with --methods PUT,POST,GET,DELETE\./],
    [['--route', '/nope'], /nothing was replayed: of \d+ requests read, left out by the filters: route \d+ \(--route, --since\/--until, --sample\)\./],
    [['--since', '2099-01-01T00:00:00Z'], /nothing was replayed: of \d+ requests read, left out by the filters: time \d+ /],
    [['--route', '/nope', '--dry-run'], /nothing was replayed: .* left out by the filters: route \d+/],
  ])('exits 1 and says why when nothing is replayed: %j', async (flags, message) => {
    const v3 = await v3Server();
    const out = newOut();
    const result = await runCli(['replay', sourceLog, '--target', v3.url, '--out', out, ...flags]);
    expect(result.code, result.stdout + result.stderr).toBe(1);
    expect(result.stderr).toMatch(message);
    expect(v3.received).toHaveLength(0);
  }, 30_000);

  it('exits 1 on a log without a request, and 0 when a finished replay is resumed', async () => {
    const empty = path.join(dir, 'empty.log');
    await writeFile(empty, '');
    const v3 = await v3Server();
    const none = await runCli(['replay', empty, '--target', v3.url, '--out', newOut()]);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('nothing was replayed: the logs hold no request.');
    const out = newOut();
    expect((await runCli(['replay', sourceLog, '--target', v3.url, '--name', 'v3', '--out', out, '--route', '/items/:id'])).code).toBe(0);
    const again = await runCli(['replay', sourceLog, '--target', v3.url, '--name', 'v3', '--out', out, '--route', '/items/:id', '--resume']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/^replayed 0 to v3 .*already_replayed 8/);
  }, 30_000);

  it.each([
    [5, 16],
    [2, 16],
    [3, 1],
  ])('sends a candidate that is down at most --failure-threshold %i requests (concurrency %i)', async (threshold, concurrency) => {
    // Refused connections: a port that was just closed.
    const gone = await v3Server();
    await gone.close();
    const refused = await replayShadowLog(sourceLog, { target: gone.url, name: 'v3', out: newOut(), concurrency, breaker: { failureThreshold: threshold } }).done;
    expect(refused.end).toBe('breaker_open');
    expect(refused.stats.failed).toEqual({ ECONNREFUSED: threshold });
    // A candidate that answers 503 to everything: it receives exactly that many.
    const failing = await v3Server('fail');
    const answered = await replayShadowLog(sourceLog, { target: failing.url, name: 'v3', out: newOut(), concurrency, breaker: { failureThreshold: threshold } }).done;
    expect(answered.end).toBe('breaker_open');
    expect(failing.received).toHaveLength(threshold);
  });

  it('goes back to full concurrency once the candidate answers', async () => {
    const v3 = await v3Server();
    let peak = 0;
    const run = replayShadowLog(sourceLog, { target: v3.url, name: 'v3', out: newOut(), concurrency: 8, breaker: { failureThreshold: 2 } });
    v3.onReceive = () => (peak = Math.max(peak, run.stats.inFlight));
    await run.done;
    expect(run.stats.replayed).toBe(REPLAYABLE + 3);
    expect(peak).toBeGreaterThan(2);
  });

  it('prints a resume command that works when pasted into a shell', async () => {
    const failing = await v3Server('fail');
    const out = newOut();
    const paused = await runCli(['replay', sourceLog, '--target', failing.url, '--name', 'v3', '--out', out, '--route', '/items/:id', '--failure-threshold', '2']);
    expect(paused.code).toBe(4);
    const command = /^ {2}(npx express-shadow replay .* --resume)$/m.exec(paused.stderr)?.[1];
    expect(command, paused.stderr).toBeDefined();
    failing.mode = 'good';
    // In the repository, as in an app that installed the package, `npx express-shadow` is the package's bin.
    const resumed = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn('sh', ['-c', command!], { cwd: ROOT, env: { ...process.env, npm_config_offline: 'true' } });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    });
    expect(resumed.code, resumed.stderr).toBe(0);
    // The route's 5 GETs and 3 DELETEs: the 2 that failed keep their records, the other 6 are sent now.
    expect(resumed.stdout).toMatch(/^replayed 6 to v3 \(\d of 6 compared matched, 0 failed\).*already_replayed 2/);
    expect(recordsOfType(await readRecords(out), 'shadow')).toHaveLength(8);
  }, 30_000);
});

describe("logRequestBodies: 'replayable'", () => {
  it('logs the exact request bytes so replay sends them byte for byte, and withholds bodies whose logged form was masked', async () => {
    const dir = await tempDir();
    const logFile = path.join(dir, 'source.log');
    const live = await startShadowServer();
    const shadow = shadowMiddleware({ target: live.url, logFile, logRequestBodies: 'replayable', summaryIntervalMs: 0 });
    const app = express();
    app.use(shadow);
    app.post('/predict', (req, res) => {
      req.resume();
      req.on('end', () => res.json({ label: 'positive' }));
    });
    const server = await serve(app);
    // Gzipped JSON whose keys are in an order JSON.stringify would keep, but with spacing it would not.
    const gzipped = gzipSync(Buffer.from('{ "text" :  "great film",\n "n": 1 }'));
    await sendRaw(server.url, { path: '/predict', headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' }, body: gzipped });
    await sendRaw(server.url, { path: '/predict', headers: { 'content-type': 'application/json' }, body: '{"text":"x","password":"hunter2"}' });
    await shadow.close();
    await server.close();
    await live.close();
    const productions = recordsOfType(await readRecords(logFile), 'production');
    const compressed = productions.find((r) => r.request.headers['content-encoding'] === 'gzip');
    const withPassword = productions.find((r) => r.request.headers['content-encoding'] === undefined);
    expect(compressed!.request.replayable).toEqual({ base64: gzipped.toString('base64') });
    expect(withPassword!.request.replayable).toEqual({ withheld: 'redacted' });
    expect(await readFile(logFile, 'utf8')).not.toContain('hunter2');

    const candidate = await startShadowServer();
    const out = path.join(dir, 'replay.log');
    const summary = await replayShadowLog(logFile, { target: candidate.url, name: 'v3', out, methods: ['POST'] }).done;
    await candidate.close();
    // The masked body cannot be replayed: neither its raw bytes nor its logged form carry the password.
    expect(summary.stats.replayed).toBe(1);
    expect(summary.stats.notReplayable).toEqual({ body_redacted: 1 });
    const exact = candidate.received.find((r) => r.headers['content-encoding'] === 'gzip');
    expect(exact!.body.equals(gzipped)).toBe(true);
  });
});
