/**
 * Traffic: sends the demo's sentences to the gateway's `POST /predict`, at a steady rate with a bounded number of
 * requests in flight, as users would.
 *
 *   tsx demo-app/traffic.ts --url http://127.0.0.1:3000 --requests 200 --rate 50 --concurrency 8
 *
 * Sentences are sent in a shuffled order fixed by `--seed`; every sentence goes once before any goes twice.
 * A progress bar is drawn on stderr when stderr is a terminal.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { parseArgs } from 'node:util';
import cliProgress from 'cli-progress';
import { isMain } from './support/lifecycle.js';

export const SENTENCES_FILE = new URL('./data/sentences.txt', import.meta.url);

/** The sentences shipped with the demo: one per line, blank lines ignored. */
export function loadSentences(file: URL | string = SENTENCES_FILE): string[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.length > 0);
}

export interface TrafficOptions {
  /** Base URL of the gateway. */
  url: string;
  sentences: readonly string[];
  requests: number;
  /** Requests started per second; 0 for as fast as `concurrency` allows. */
  rate: number;
  concurrency: number;
  /** Seed of the shuffle. Default 1. */
  seed?: number;
  /** When aborted, no further request starts; those in flight finish. */
  signal?: AbortSignal;
  /** Draw a progress bar on stderr. Default: when stderr is a TTY. */
  progress?: boolean;
}

export interface TrafficResult {
  /** Requests sent (fewer than asked when stopped early). */
  sent: number;
  /** Answers by HTTP status. */
  byStatus: Record<string, number>;
  /** Requests that got no answer, by error code. */
  errors: Record<string, number>;
  /** Production labels the gateway answered with. */
  labels: Record<string, number>;
  /** The `x-request-id` of every answer, in the order the answers came. */
  requestIds: string[];
  durationMs: number;
  stopped: boolean;
}

interface Answer {
  status: number;
  requestId: string | undefined;
  label: string | undefined;
}

export async function sendTraffic(options: TrafficOptions): Promise<TrafficResult> {
  const { url, sentences, requests, rate, concurrency, signal } = options;
  if (sentences.length === 0) throw new Error('no sentences to send');
  const order = shuffledCycle(sentences.length, options.seed ?? 1);
  const target = new URL('/predict', url);
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const result: TrafficResult = { sent: 0, byStatus: {}, errors: {}, labels: {}, requestIds: [], durationMs: 0, stopped: false };

  const showProgress = options.progress ?? process.stderr.isTTY === true;
  const bar = showProgress
    ? new cliProgress.SingleBar(
        {
          stream: process.stderr,
          format: '  traffic {bar} {value}/{total} requests | {rps} req/s | {errors} errors',
          barsize: 30,
          hideCursor: true,
          clearOnComplete: false,
        },
        cliProgress.Presets.shades_classic,
      )
    : undefined;
  bar?.start(requests, 0, { rps: '0', errors: 0 });

  const started = performance.now();
  const intervalMs = rate > 0 ? 1000 / rate : 0;
  let next = 0;
  let done = 0;
  let failed = 0;

  async function worker(): Promise<void> {
    for (;;) {
      if (signal?.aborted) return;
      const index = next++;
      if (index >= requests) return;
      const wait = started + index * intervalMs - performance.now();
      if (wait > 0) await sleep(wait, signal);
      if (signal?.aborted) return;
      const text = sentences[order(index)]!;
      result.sent++;
      try {
        const answer = await postJson(target, { text }, agent);
        increment(result.byStatus, String(answer.status));
        if (answer.status >= 400) failed++;
        if (answer.requestId) result.requestIds.push(answer.requestId);
        if (answer.label) increment(result.labels, answer.label);
      } catch (error) {
        failed++;
        increment(result.errors, (error as NodeJS.ErrnoException).code ?? 'error');
      }
      done++;
      const seconds = (performance.now() - started) / 1000;
      bar?.update(done, { rps: seconds > 0 ? (done / seconds).toFixed(0) : '0', errors: failed });
    }
  }

  await Promise.all(Array.from({ length: Math.max(1, concurrency) }, () => worker()));
  result.durationMs = performance.now() - started;
  result.stopped = done < requests;
  bar?.stop();
  agent.destroy();
  return result;
}

function postJson(url: URL, body: unknown, agent: http.Agent): Promise<Answer> {
  const bytes = Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': bytes.length }, timeout: 10_000 },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () => {
          let label: string | undefined;
          try {
            const parsed = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { label?: unknown };
            if (typeof parsed.label === 'string') label = parsed.label;
          } catch {
            // Not JSON: counted by status only.
          }
          const requestId = res.headers['x-request-id'];
          resolve({ status: res.statusCode ?? 0, requestId: typeof requestId === 'string' ? requestId : undefined, label });
        });
      },
    );
    req.on('timeout', () => req.destroy(Object.assign(new Error('request timed out'), { code: 'ETIMEDOUT' })));
    req.on('error', reject);
    req.end(bytes);
  });
}

/** Index → sentence index: a seeded shuffle of all sentences, repeated. */
function shuffledCycle(count: number, seed: number): (index: number) => number {
  const random = mulberry32(seed);
  const order = Array.from({ length: count }, (_, i) => i);
  for (let i = count - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return (index) => order[index % count]!;
}

function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

function increment(counts: Record<string, number>, key: string): void {
  counts[key] = (counts[key] ?? 0) + 1;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      url: { type: 'string', default: 'http://127.0.0.1:3000' },
      requests: { type: 'string', default: '200' },
      rate: { type: 'string', default: '50' },
      concurrency: { type: 'string', default: '8' },
      seed: { type: 'string', default: '1' },
    },
  });
  const stop = new AbortController();
  process.once('SIGINT', () => stop.abort());
  const result = await sendTraffic({
    url: values.url,
    sentences: loadSentences(),
    requests: Number(values.requests),
    rate: Number(values.rate),
    concurrency: Number(values.concurrency),
    seed: Number(values.seed),
    signal: stop.signal,
  });
  const { requestIds: _ids, ...summary } = result;
  console.log(JSON.stringify(summary));
}

if (isMain(import.meta.url)) {
  main().catch((error: unknown) => {
    console.error(`traffic: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  });
}
