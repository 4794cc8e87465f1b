/**
 * Traffic: sends the demo's sentences to the gateway, at a steady rate with a bounded number of requests in flight,
 * as users would. Most go to `POST /predict`; a share (`--generate-share`, default 20%) go to the streaming
 * `POST /generate`, whose Server-Sent Events are read as they come.
 *
 *   tsx demo-app/traffic.ts --url http://127.0.0.1:3000 --requests 200 --rate 50 --concurrency 8 --generate-share 0.2
 *
 * Sentences are sent in a shuffled order fixed by `--seed`; every sentence goes once before any goes twice. The
 * /generate requests are spread evenly: with a share of 0.2, every fifth request.
 * A progress bar is drawn on stderr when stderr is a terminal.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { parseArgs } from 'node:util';
import cliProgress from 'cli-progress';
import { seededRandom } from '../lib/report/stats/random.js';
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
  /** Fraction of the requests sent to the streaming `POST /generate` instead of `POST /predict`, 0..1. Default 0.2. */
  generateShare?: number;
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
  /** Requests sent, by route (`/predict`, `/generate`). */
  byRoute: Record<string, number>;
  /** Answers by HTTP status. */
  byStatus: Record<string, number>;
  /** Requests that got no answer, by error code. */
  errors: Record<string, number>;
  /** Production labels the gateway answered with (for /generate, the label its explanation names). */
  labels: Record<string, number>;
  /** The /generate answers: how many were streams, their events in all, and how many ended without `[DONE]`. */
  streams: { answers: number; events: number; incomplete: number };
  /** The `x-request-id` of every answer, in the order the answers came. */
  requestIds: string[];
  durationMs: number;
  stopped: boolean;
}

interface Answer {
  status: number;
  requestId: string | undefined;
  label: string | undefined;
  /** Server-sent events: their count, and whether the last one was `[DONE]`. */
  stream?: { events: number; done: boolean };
}

/** A result with nothing sent yet. */
export function emptyTrafficResult(): TrafficResult {
  return {
    sent: 0,
    byRoute: {},
    byStatus: {},
    errors: {},
    labels: {},
    streams: { answers: 0, events: 0, incomplete: 0 },
    requestIds: [],
    durationMs: 0,
    stopped: false,
  };
}

export const ROUTES = { predict: '/predict', generate: '/generate' } as const;

/** Whether request `index` goes to /generate: `share` of the requests, spread evenly (0.2: indexes 4, 9, 14, ...). */
export function isGenerate(index: number, share: number): boolean {
  return Math.floor((index + 1) * share) > Math.floor(index * share);
}

export async function sendTraffic(options: TrafficOptions): Promise<TrafficResult> {
  const { url, sentences, requests, rate, concurrency, signal } = options;
  const generateShare = options.generateShare ?? 0.2;
  if (sentences.length === 0) throw new Error('no sentences to send');
  if (!(generateShare >= 0 && generateShare <= 1)) throw new Error(`generateShare must be from 0 to 1, got ${generateShare}`);
  const order = shuffledCycle(sentences.length, options.seed ?? 1);
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const result = emptyTrafficResult();

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
      const route = isGenerate(index, generateShare) ? ROUTES.generate : ROUTES.predict;
      result.sent++;
      increment(result.byRoute, route);
      try {
        const answer = await postJson(new URL(route, url), { text }, agent);
        increment(result.byStatus, String(answer.status));
        if (answer.status >= 400) failed++;
        if (answer.requestId) result.requestIds.push(answer.requestId);
        if (answer.label) increment(result.labels, answer.label);
        if (answer.stream) {
          result.streams.answers++;
          result.streams.events += answer.stream.events;
          if (!answer.stream.done) result.streams.incomplete++;
        }
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

/** POSTs JSON; reads a JSON answer for its label, or a Server-Sent Events answer for its events and the text they carry. */
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
        // A stream cut off halfway (the production model dropped it) ends with 'aborted'/'error', not 'end'.
        res.on('aborted', () => reject(Object.assign(new Error('stream cut off'), { code: 'ECONNRESET' })));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const requestId = res.headers['x-request-id'];
          const answer: Answer = { status: res.statusCode ?? 0, requestId: typeof requestId === 'string' ? requestId : undefined, label: undefined };
          if (String(res.headers['content-type']).startsWith('text/event-stream')) {
            const events = sseData(text);
            const said = events
              .filter((event) => event !== '[DONE]')
              .map((event) => {
                try {
                  return (JSON.parse(event) as { choices?: { delta?: { content?: string } }[] }).choices?.[0]?.delta?.content ?? '';
                } catch {
                  return '';
                }
              })
              .join('');
            answer.stream = { events: events.length, done: events.at(-1) === '[DONE]' };
            // The explanation names the label: "This review is negative, mostly because of the word terrible."
            answer.label = /\b(positive|negative|neutral)\b/.exec(said)?.[1];
          } else {
            try {
              const parsed = JSON.parse(text) as { label?: unknown };
              if (typeof parsed.label === 'string') answer.label = parsed.label;
            } catch {
              // Not JSON: counted by status only.
            }
          }
          resolve(answer);
        });
      },
    );
    req.on('timeout', () => req.destroy(Object.assign(new Error('request timed out'), { code: 'ETIMEDOUT' })));
    req.on('error', reject);
    req.end(bytes);
  });
}

/** The `data:` payload of each event of a Server-Sent Events body (single-line data, as the demo's models send). */
function sseData(body: string): string[] {
  return body
    .split(/\r?\n\r?\n/)
    .map((event) => /^data: ?(.*)$/m.exec(event)?.[1])
    .filter((data): data is string => data !== undefined);
}

/** Index → sentence index: a seeded shuffle of all sentences, repeated. */
function shuffledCycle(count: number, seed: number): (index: number) => number {
  const random = seededRandom(seed);
  const order = Array.from({ length: count }, (_, i) => i);
  for (let i = count - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return (index) => order[index % count]!;
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
      'generate-share': { type: 'string', default: '0.2' },
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
    generateShare: Number(values['generate-share']),
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
