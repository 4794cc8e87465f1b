/**
 * Per-record cost of the log file sink: 100 000 records of a typical size, written 1 000 per tick (as a busy engine
 * would), timed until every line is on disk. Prints µs per record of this thread's CPU (what the engine's event loop
 * pays), of the whole process's CPU (adds the fs threadpool and GC threads) and of wall time, median of interleaved
 * rounds, for:
 *   - `floor`: building the record and JSON.stringify only (what any sink pays),
 *   - `before`: lib/record.ts as it was (one winston call per record, winston's Stream transport over fs.WriteStream),
 *   - `sink, one call per record`: lib/engine/sink.ts with batching off,
 *   - `sink, batched per tick`: lib/engine/sink.ts as shipped.
 *
 *   npx tsx bench/sink-cost.ts [records] [rounds]
 */
import { createWriteStream, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setImmediate as nextTick } from 'node:timers/promises';
import winston from 'winston';
import { openFileSink } from '../lib/engine/sink.js';
import type { ShadowLogRecord } from '../lib/types.js';

const records = Number(process.argv[2] ?? 100_000);
const rounds = Number(process.argv[3] ?? 5);
const PER_TICK = 1000;

interface Writer {
  write(record: ShadowLogRecord): void;
  close(): Promise<void>;
}

/** lib/record.ts before this change, kept here so the figure can be reproduced. */
function legacySink(filename: string): Writer {
  const file = createWriteStream(filename, { flags: 'a' });
  const transport = new winston.transports.Stream({ stream: file, eol: '\n' });
  const logger = winston.createLogger({ level: 'info', exitOnError: false, format: winston.format.printf((info) => info.message as string), transports: [transport] });
  return {
    write: (record) => logger.info(JSON.stringify(record)),
    close: () =>
      new Promise<void>((resolve) => {
        transport.once('finish', () => {
          file.once('close', () => resolve());
          file.end();
        });
        logger.end();
      }),
  };
}

function newSink(filename: string, batchLines: boolean): Writer {
  const sink = openFileSink(filename, { batchLines, maxPendingBytes: 2 ** 31 });
  return {
    write: (record) => sink.write(record),
    close: async () => {
      await sink.close(600_000);
      const { written, dropped } = sink.stats();
      if (written !== records) throw new Error(`wrote ${written} of ${records} (dropped ${JSON.stringify(dropped)})`);
    },
  };
}

/** A shadow record of typical size (~900 bytes of JSON), fresh for every write as the engine builds them. */
function record(i: number): ShadowLogRecord {
  return {
    type: 'shadow',
    version: 1,
    timestamp: new Date(1_700_000_000_000 + i).toISOString(),
    requestId: `0190b2d4-${String(i).padStart(8, '0')}-7000-8000-000000000000`,
    target: 'candidate',
    route: '/predict',
    durationMs: 12.5 + (i % 7),
    status: 200,
    headers: { 'content-type': 'application/json; charset=utf-8', 'content-length': '412', 'x-model-version': 'v2.3.1' },
    body: { json: { label: i % 3 === 0 ? 'positive' : 'negative', score: (i % 1000) / 1000, tokens: Array.from({ length: 24 }, (_, k) => `tok${k}`) }, bytes: 412, truncated: false },
  } as unknown as ShadowLogRecord;
}

/** CPU time of this thread alone, ns (Linux schedstat): what the engine's event loop pays, without the threadpool. */
function threadCpuNs(): number {
  return Number(readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0]);
}

interface Cost {
  threadUs: number;
  cpuUs: number;
  wallUs: number;
}

async function measure(make: (filename: string) => Writer): Promise<Cost> {
  const dir = await mkdtemp(path.join(tmpdir(), 'sink-cost-'));
  const writer = make(path.join(dir, 'shadow.log'));
  const thread = threadCpuNs();
  const cpu = process.cpuUsage();
  const started = process.hrtime.bigint();
  for (let i = 0; i < records; i++) {
    writer.write(record(i));
    if ((i + 1) % PER_TICK === 0) await nextTick();
  }
  await writer.close();
  const wallNs = Number(process.hrtime.bigint() - started);
  const used = process.cpuUsage(cpu);
  const threadNs = threadCpuNs() - thread;
  await rm(dir, { recursive: true, force: true });
  return { threadUs: threadNs / 1000 / records, cpuUs: (used.user + used.system) / records, wallUs: wallNs / 1000 / records };
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? NaN;

/** The floor: building the record and JSON.stringify, nothing written. */
function serialiseOnly(): Writer {
  let bytes = 0;
  return { write: (record) => void (bytes += JSON.stringify(record).length), close: async () => void bytes };
}

const variants: [string, (filename: string) => Writer][] = [
  ['floor: build + stringify', serialiseOnly],
  ['before', legacySink],
  ['sink, one call per record', (f) => newSink(f, false)],
  ['sink, batched per tick', (f) => newSink(f, true)],
];
const results = new Map<string, Cost[]>(variants.map(([name]) => [name, []]));
await measure(legacySink); // warm-up
for (let round = 0; round < rounds; round++) {
  for (const [name, make] of variants) {
    results.get(name)?.push(await measure(make));
  }
}
console.log(`${records} records, ${PER_TICK} per tick, median of ${rounds} rounds (Node ${process.version})`);
const show = (costs: Cost[], key: keyof Cost) => median(costs.map((c) => c[key])).toFixed(2).padStart(6);
console.log(`${''.padEnd(28)} µs per record: this thread | whole process | wall`);
for (const [name, costs] of results) {
  console.log(`${name.padEnd(28)} ${show(costs, 'threadUs')} | ${show(costs, 'cpuUs')} | ${show(costs, 'wallUs')}`);
}
