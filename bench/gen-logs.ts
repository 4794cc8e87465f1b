/**
 * Synthetic shadow logs for the reader benchmark, in the middleware's record format (UUID v7 request ids): N request
 * pairs spread over several app instances (one file each,
 * optionally rotated and gzipped), with realistic records and the usual mess — orphans, skips, shadow errors,
 * mismatches, records of one request in two files, late shadow answers (written 90 s after their request, past the
 * join window, in time order with the rest of the file), summaries and breaker transitions.
 *
 * Build and run (TypeScript is bundled by the esbuild that vitest already installs):
 *   npx esbuild bench/gen-logs.ts bench/read-logs.ts --bundle --platform=node --format=esm --packages=external \
 *     --outdir=bench/results/build --out-extension:.js=.mjs
 *   node bench/results/build/gen-logs.mjs --pairs 1000000 --files 4 --rotate --gzip --out bench/results/logs
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createGzip, type Gzip } from 'node:zlib';
import { seededRandom } from '../lib/report/stats/random.js';

const { values } = parseArgs({
  options: {
    pairs: { type: 'string', default: '1000000' },
    files: { type: 'string', default: '4' },
    out: { type: 'string', default: 'bench/results/logs' },
    gzip: { type: 'boolean', default: false },
    rotate: { type: 'boolean', default: false },
    seed: { type: 'string', default: '1' },
  },
});

const PAIRS = Number(values.pairs);
const INSTANCES = Number(values.files);
const START = Date.parse('2024-05-01T00:00:00.000Z');
/** About 280 requests a second in all: a million pairs cover an hour. */
const SPACING_MS = 3.6;
const ROUTES = ['/v1/predict', '/v1/classify/:id', '/v1/score', '/v1/embed'];
const LABELS = ['cat', 'dog', 'bird', 'fish', 'horse'];

const random = seededRandom(Number(values.seed) >>> 0 || 1);
/** A UUID v7, as the middleware's request ids are: the time in ms, then seeded random bits. */
function uuidV7(ms: number): string {
  const hex = (n: number, digits: number): string => Math.floor(n).toString(16).padStart(digits, '0');
  const time = hex(ms, 12);
  const bits = (n: number): number => Math.floor(random() * 2 ** n);
  return `${time.slice(0, 8)}-${time.slice(8)}-7${hex(bits(12), 3)}-${hex(0x8000 + bits(14), 4)}-${hex(bits(24), 6)}${hex(bits(24), 6)}`;
}
function pick<T>(items: readonly T[]): T {
  return items[Math.floor(random() * items.length)] as T;
}
function latency(median: number): number {
  // log-normal-ish, rounded to 0.1 ms like the middleware's timings
  const u = Math.max(1e-9, random());
  const v = random();
  const z = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  return Math.round(median * Math.exp(0.5 * z) * 10) / 10;
}

class Sink {
  #chunks: string[] = [];
  #size = 0;
  readonly #file: WriteStream;
  readonly #gzip: Gzip | undefined;

  constructor(path: string, gzip: boolean) {
    this.#file = createWriteStream(path);
    if (gzip) {
      this.#gzip = createGzip({ level: 1 });
      this.#gzip.pipe(this.#file);
    }
  }

  async line(text: string): Promise<void> {
    this.#chunks.push(text);
    this.#size += text.length + 1;
    if (this.#size > 1 << 20) await this.flush();
  }

  async flush(): Promise<void> {
    if (this.#chunks.length === 0) return;
    const data = this.#chunks.join('\n') + '\n';
    this.#chunks = [];
    this.#size = 0;
    const target = this.#gzip ?? this.#file;
    if (!target.write(data)) await new Promise<void>((r) => target.once('drain', () => r()));
  }

  async close(): Promise<void> {
    await this.flush();
    await new Promise<void>((resolve, reject) => {
      this.#file.once('finish', resolve);
      this.#file.once('error', reject);
      if (this.#gzip !== undefined) this.#gzip.end();
      else this.#file.end();
    });
  }
}

interface Later {
  due: number;
  sink: Sink;
  text: string;
}

async function main(): Promise<void> {
  await rm(values.out, { recursive: true, force: true });
  await mkdir(values.out, { recursive: true });
  const suffix = values.gzip ? '.gz' : '';
  const sinks: { old: Sink | undefined; current: Sink }[] = [];
  for (let i = 0; i < INSTANCES; i++) {
    const base = join(values.out, `shadow-${i}.log`);
    sinks.push({ old: values.rotate ? new Sink(`${base}.1${suffix}`, values.gzip) : undefined, current: new Sink(`${base}${suffix}`, values.gzip) });
  }
  const counts = { pairs: 0, late: 0, skipped: 0, errors: 0, orphanProduction: 0, orphanShadow: 0, mismatches: 0, crossFile: 0, lines: 0 };
  const notMirrored = Array.from({ length: INSTANCES }, () => ({ sampled_out: 0, method: 0 }));
  const started = Date.now();
  /** Late records waiting for the clock, in due order (they are all about 90 s ahead, so push keeps the order). */
  const later: Later[] = [];

  for (let n = 0; n < PAIRS; n++) {
    const instance = n % INSTANCES;
    const sinkPair = sinks[instance] as { old: Sink | undefined; current: Sink };
    const sink = sinkPair.old !== undefined && n < PAIRS / 2 ? sinkPair.old : sinkPair.current;
    const t = START + n * SPACING_MS;
    const id = uuidV7(t);
    const route = pick(ROUTES);
    const path = route.replace(':id', String(Math.floor(random() * 1e6)));
    const roll = random();
    const write = async (record: { timestamp: string; [field: string]: unknown }, target: Sink = sink): Promise<void> => {
      counts.lines++;
      const due = Date.parse(record.timestamp);
      // A record stamped far ahead (a late answer) is written when the file's clock gets there, as the app would.
      if (due > t + 10_000) later.push({ due, sink: target, text: JSON.stringify(record) });
      else await target.line(JSON.stringify(record));
    };
    while (later.length > 0 && (later[0] as Later).due <= t) {
      const item = later.shift() as Later;
      await item.sink.line(item.text);
    }

    if (roll < 0.01) {
      counts.skipped++;
      await write({ type: 'skipped', requestId: id, timestamp: new Date(t).toISOString(), reason: pick(['body_too_large', 'queue_full', 'queue_full', 'aborted']), method: 'POST', path, route, status: 200 });
      continue;
    }
    const label = pick(LABELS);
    const features = Array.from({ length: 6 }, () => Math.round(random() * 1000) / 1000);
    const prodMs = latency(40);
    const prodScore = Math.round(random() * 1000) / 1000;
    const production = {
      type: 'production', requestId: id, timestamp: new Date(t + prodMs).toISOString(), method: 'POST', path, route, status: 200, durationMs: prodMs,
      request: { headers: { 'content-type': 'application/json', 'user-agent': 'bench-client/1.0', 'x-request-id': id }, bodySource: 'raw', body: { features, customer: `c-${Math.floor(random() * 1e5)}` }, bodyBytes: 96 },
      response: { headers: { 'content-type': 'application/json; charset=utf-8', 'x-model': 'v1' }, body: { label, score: prodScore, model: 'v1', explanations: ['f1', 'f3'] }, bodyBytes: 82 },
    };
    const shadowOnly = roll < 0.012;
    if (!shadowOnly) await write(production);
    if (roll >= 0.012 && roll < 0.017) {
      counts.orphanProduction++;
      continue; // the shadow record never came
    }
    if (shadowOnly) counts.orphanShadow++;
    counts.pairs++;
    const shadowT = t + prodMs + 1;
    if (random() < 0.02) {
      counts.errors++;
      const code = random() < 0.7 ? 'timeout' : 'ECONNRESET';
      await write({ type: 'shadow', requestId: id, timestamp: new Date(shadowT + (code === 'timeout' ? 5000 : 3)).toISOString(), target: 'model-v2', durationMs: code === 'timeout' ? 5000 : 3, error: { code, message: `shadow call failed: ${code}` } });
      continue;
    }
    const shadowMs = random() < 0.001 ? 90_000 + latency(55) : latency(55);
    if (shadowMs > 90_000) counts.late++;
    const mismatch = random() < 0.05;
    if (mismatch) counts.mismatches++;
    const shadowLabel = mismatch ? pick(LABELS.filter((l) => l !== label)) : label;
    const shadowScore = mismatch ? Math.round(random() * 1000) / 1000 : prodScore;
    const end = new Date(shadowT + shadowMs).toISOString();
    await write({
      type: 'shadow', requestId: id, timestamp: end, target: 'model-v2', status: 200, durationMs: shadowMs,
      response: { headers: { 'content-type': 'application/json; charset=utf-8', 'x-model': 'v2' }, body: { label: shadowLabel, score: shadowScore, model: 'v2', explanations: ['f1', 'f3'] }, bodyBytes: 82 },
    });
    const crossFile = random() < 0.01;
    if (crossFile) counts.crossFile++;
    const differences = mismatch
      ? [{ path: '$.label', production: label, shadow: shadowLabel }, { path: '$.score', production: prodScore, shadow: shadowScore }, { path: '$.model', production: 'v1', shadow: 'v2' }]
      : [{ path: '$.model', production: 'v1', shadow: 'v2' }];
    await write(
      { type: 'comparison', requestId: id, timestamp: end, target: 'model-v2', statusMatch: true, match: !mismatch, differences, latencyDeltaMs: Math.round((shadowMs - prodMs) * 10) / 10 },
      crossFile ? (sinks[(instance + 1) % INSTANCES] as { current: Sink }).current : sink,
    );
    const left = notMirrored[instance] as { sampled_out: number; method: number };
    left.sampled_out += random() < 0.3 ? 1 : 0;
    left.method += random() < 0.02 ? 1 : 0;
    if (n % 20_000 < INSTANCES && n >= INSTANCES) {
      await write({ type: 'summary', timestamp: new Date(t).toISOString(), intervalMs: 60_000, seen: 20_000 / INSTANCES, mirrored: 20_000 / INSTANCES, notMirrored: { ...left } });
      left.sampled_out = 0;
      left.method = 0;
    }
    if (n % 250_000 === 7) {
      await write({ type: 'breaker', timestamp: new Date(t).toISOString(), target: 'model-v2', state: 'open', reason: '5 consecutive failures' });
      await write({ type: 'breaker', timestamp: new Date(t + 30_000).toISOString(), target: 'model-v2', state: 'half_open', reason: 'cooldown elapsed' });
    }
  }
  for (const item of later) await item.sink.line(item.text);
  for (const s of sinks) {
    await s.old?.close();
    await s.current.close();
  }
  const seconds = (Date.now() - started) / 1000;
  console.log(JSON.stringify({ ...counts, requests: PAIRS, files: values.rotate ? 2 * INSTANCES : INSTANCES, gzip: values.gzip, seconds }));
}

await main();
