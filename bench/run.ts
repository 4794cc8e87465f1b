/**
 * `npm run bench`: what mirroring costs the production app (issue 6).
 *
 *   npm run bench                      full run (about 10 minutes)
 *   npm run bench -- --quick           fewer, shorter rounds (about 2 minutes); numbers are indicative only
 *   npm run bench -- --sections fixed,saturation --rate 500 --rounds 5 --seconds 10
 *
 * Sections:
 *   fixed       latency at a fixed rate below saturation: A plain, A' a second plain app (the noise floor),
 *               B 100 % mirrored to a fast shadow, C 10 % sampled; rounds interleaved, medians of rounds.
 *   trouble     the same rate with the shadow fast, slow (300 ms), refusing, black-holing, answering 5 MB:
 *               production p99, production errors, the app's RSS.
 *   saturation  closed-loop autocannon with enough connections to saturate A and B, interleaved.
 *   cost        CPU µs per request (process.cpuUsage deltas) of A, B, C, and a V8 CPU profile of A and B split by stage.
 *   reader      records/s and peak RSS of the log reader over --reader-pairs request pairs (bench/gen-logs.ts and
 *               bench/read-logs.ts, when they exist).
 *
 * Every process is on 127.0.0.1. The app under test runs in a child process (pinned to CPU 0 when taskset exists);
 * the load generator runs here, the model servers in another child. Markdown tables go to stdout and the figures to
 * bench/results/<date>-<section>.json.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { autocannonFixedRate, saturate, type SaturationResult } from './autocannon-load.js';
import { pacedLoad, type PacedResult } from './paced-load.js';
import { analyseProfile, CATEGORY_ORDER, type CpuProfile, type ProfileBreakdown } from './profile.js';
import {
  benchDir,
  choosePinning,
  cpuMicros,
  describeMachine,
  libRevision,
  pinMainThread,
  requestBody,
  requestHeaders,
  startApp,
  startModels,
  writeResult,
  type App,
  type AppSpec,
  type HeapUsage,
  type Usage,
} from './setup.js';
import { fixed, markdownTable, median, mib, percentile, ratio, sleep, slicePercentiles } from './stats.js';

const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    sections: { type: 'string', default: 'fixed,trouble,saturation,cost,reader' },
    rate: { type: 'string', default: '500' },
    rounds: { type: 'string' },
    seconds: { type: 'string' },
    warmup: { type: 'string' },
    connections: { type: 'string', default: '64' },
    'sample-rate': { type: 'string', default: '0.1' },
    'reader-pairs': { type: 'string' },
    'fixed-driver': { type: 'string', default: 'paced' },
    pin: { type: 'string', default: 'on' },
    lib: { type: 'string' },
    tag: { type: 'string' },
    'no-write': { type: 'boolean', default: false },
  },
});

const quick = flags.quick;
const sections = new Set(flags.sections.split(',').map((s) => s.trim()));
const rate = Number(flags.rate);
const rounds = Number(flags.rounds ?? (quick ? 2 : 5));
const seconds = Number(flags.seconds ?? (quick ? 3 : 10));
const warmupSeconds = Number(flags.warmup ?? (quick ? 2 : 5));
const troubleRounds = Number(flags.rounds ?? (quick ? 1 : 3));
const saturationRounds = Number(flags.rounds ?? (quick ? 2 : 3));
const connections = Number(flags.connections);
const sampleRate = Number(flags['sample-rate']);
const readerPairs = Number(flags['reader-pairs'] ?? (quick ? 50_000 : 1_000_000));
const fixedDriver = flags['fixed-driver'];
if (fixedDriver !== 'paced' && fixedDriver !== 'autocannon') throw new Error(`--fixed-driver is paced or autocannon, got ${fixedDriver}`);
const lib = flags.lib ? path.resolve(flags.lib) : undefined;

const pinning = choosePinning(flags.pin !== 'off');
const machine = describeMachine(pinning);
const tmp = await mkdtemp(path.join(os.tmpdir(), 'express-shadow-bench-'));
const profileDir = path.join(os.tmpdir(), 'express-shadow-bench-profiles');
const settings = { quick, rate, rounds, seconds, warmupSeconds, troubleRounds, saturationRounds, connections, sampleRate, fixedDriver, lib: flags.lib ?? 'lib/' };

console.log(`# express-shadow bench${quick ? ' (--quick: indicative only)' : ''}\n`);
console.log(`Machine: ${machine.cpus} × ${machine.cpuModel}, Node ${machine.node}, ${machine.os}; ${machine.pinning}.`);
console.log(`Fixed load: ${rate} req/s, ${rounds} rounds × ${seconds} s per scenario after ${warmupSeconds} s warm-up (${fixedDriver} driver).\n`);

/** One measured window of one scenario. */
interface Window {
  scenario: string;
  round: number;
  sent: number;
  ok: number;
  non2xx: number;
  errors: number;
  achievedRate: number;
  lagP99Ms: number;
  connections: number;
  p50: number;
  p99: number;
  p999: number;
  max: number;
  /** Per-slice percentiles (p50 and p99 of 1 s slices, p99.9 of 2 s slices), see slicePercentiles. */
  slices?: { p50: number[]; p99: number[]; p999: number[] };
  cpuUsPerRequest: number;
  cpuPercent: number;
  rss: number;
  appErrors: number;
  eventLoopDelayP99: number;
  eventLoopDelayMax: number;
  mirrored?: number;
  skipped?: Record<string, number>;
  failed?: Record<string, number>;
  breaker?: string;
}

async function usage(app: App): Promise<Usage> {
  return app.request<Usage>('usage');
}

function fixedLoad(app: App, durationS: number): Promise<PacedResult> {
  if (fixedDriver === 'autocannon') return autocannonFixedRate(app.url, rate, durationS, Math.min(10, rate), requestBody, requestHeaders);
  return pacedLoad({ url: app.url, rate, durationS, method: 'POST', body: requestBody, headers: requestHeaders });
}

/**
 * Waits until the app has nothing in flight or queued for the shadow and its log has stopped growing, then has the
 * kernel write dirty pages out: an app still draining, or hundreds of MB of log being written back, would otherwise
 * land in the next window, which may belong to another app.
 */
async function settle(app: App, limitMs: number): Promise<boolean> {
  const until = Date.now() + limitMs;
  let idle = false;
  let lastSize = -1;
  for (;;) {
    const { stats } = await usage(app);
    idle ||= !stats || stats.inFlight + stats.queued === 0;
    const size = app.logFile ? await stat(app.logFile).then((s) => s.size, () => 0) : 0;
    if (idle && size === lastSize) break;
    lastSize = size;
    if (Date.now() > until) return false;
    await sleep(250);
  }
  spawnSync('sync');
  return true;
}

function diffCounts(after: Record<string, number> = {}, before: Record<string, number> = {}): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [key, value] of Object.entries(after)) if (value - (before[key] ?? 0) > 0) out[key] = value - (before[key] ?? 0);
  return out;
}

async function measureWindow(app: App, round: number): Promise<Window> {
  const before = await usage(app);
  const startedAt = performance.now();
  const load = await fixedLoad(app, seconds);
  const wallUs = (performance.now() - startedAt) * 1000;
  const after = await usage(app);
  const handled = after.served + after.errors - before.served - before.errors;
  const cpu = cpuMicros(after) - cpuMicros(before);
  const lat = load.latencies;
  return {
    scenario: app.name,
    round,
    sent: load.sent,
    ok: load.ok,
    non2xx: load.non2xx,
    errors: load.errors,
    achievedRate: load.achievedRate,
    lagP99Ms: load.lagP99Ms,
    connections: load.connections,
    p50: percentile(lat, 0.5),
    p99: percentile(lat, 0.99),
    p999: percentile(lat, 0.999),
    max: lat[lat.length - 1] ?? Number.NaN,
    ...(load.bySendTime
      ? {
          slices: {
            p50: slicePercentiles(load.bySendTime.sentAtMs, load.bySendTime.latencyMs, 1000, 0.5),
            p99: slicePercentiles(load.bySendTime.sentAtMs, load.bySendTime.latencyMs, 1000, 0.99),
            p999: slicePercentiles(load.bySendTime.sentAtMs, load.bySendTime.latencyMs, 2000, 0.999),
          },
        }
      : {}),
    cpuUsPerRequest: cpu / Math.max(1, handled),
    cpuPercent: (cpu / wallUs) * 100,
    rss: after.rss,
    appErrors: after.errors - before.errors,
    eventLoopDelayP99: after.eventLoopDelay.p99,
    eventLoopDelayMax: after.eventLoopDelay.max,
    ...(after.stats && before.stats
      ? {
          mirrored: after.stats.mirrored - before.stats.mirrored,
          skipped: diffCounts(after.stats.skipped, before.stats.skipped),
          failed: diffCounts(after.stats.failed, before.stats.failed),
          breaker: Object.values(after.stats.breakers).join(','),
        }
      : {}),
  };
}

/** Warm every app up, then run `roundCount` rounds, each visiting every app once in a rotated order. */
async function interleave(apps: App[], roundCount: number, settleMs: number): Promise<Window[]> {
  for (const app of apps) {
    await fixedLoad(app, warmupSeconds);
    pinMainThread(app, pinning);
    await settle(app, settleMs);
  }
  const windows: Window[] = [];
  for (let round = 0; round < roundCount; round++) {
    const order = apps.map((_, i) => apps[(i + round) % apps.length]!);
    for (const app of order) {
      const window = await measureWindow(app, round + 1);
      windows.push(window);
      const extra = window.mirrored !== undefined ? ` mirrored ${window.mirrored}${Object.keys(window.skipped ?? {}).length ? ` skipped ${JSON.stringify(window.skipped)}` : ''}` : '';
      console.error(
        `  round ${round + 1} ${app.name.padEnd(14)} p50 ${fixed(window.p50)} p99 ${fixed(window.p99)} p99.9 ${fixed(window.p999)} ms, ` +
          `${fixed(window.achievedRate, 0)} req/s, CPU ${fixed(window.cpuPercent, 0)} % (${fixed(window.cpuUsPerRequest, 0)} µs/req), ` +
          `errors ${window.errors + window.non2xx}${extra}`,
      );
      if (!(await settle(app, settleMs))) console.error(`  (${app.name} still had shadow calls in flight after ${settleMs} ms)`);
    }
  }
  return windows;
}

interface ScenarioSummary {
  scenario: string;
  windows: number;
  p50: number;
  p99: number;
  p999: number;
  cpuUsPerRequest: number;
  cpuPercent: number;
  achievedRate: number;
  productionErrors: number;
  eventLoopDelayP99: number;
  /** Medians over every slice of every round (see slicePercentiles). */
  sliceP50: number;
  sliceP99: number;
  sliceP999: number;
}

function summarise(windows: Window[], scenario: string): ScenarioSummary {
  const mine = windows.filter((w) => w.scenario === scenario);
  return {
    scenario,
    windows: mine.length,
    p50: median(mine.map((w) => w.p50)),
    p99: median(mine.map((w) => w.p99)),
    p999: median(mine.map((w) => w.p999)),
    cpuUsPerRequest: median(mine.map((w) => w.cpuUsPerRequest)),
    cpuPercent: median(mine.map((w) => w.cpuPercent)),
    achievedRate: median(mine.map((w) => w.achievedRate)),
    productionErrors: mine.reduce((n, w) => n + w.errors + w.non2xx + w.appErrors, 0),
    eventLoopDelayP99: median(mine.map((w) => w.eventLoopDelayP99)),
    sliceP50: median(mine.flatMap((w) => w.slices?.p50 ?? [])),
    sliceP99: median(mine.flatMap((w) => w.slices?.p99 ?? [])),
    sliceP999: median(mine.flatMap((w) => w.slices?.p999 ?? [])),
  };
}

const common = { machine, settings, revision: libRevision() };
/** Apps that did not exit cleanly on close(). */
const appExits: { app: string; code: number | null }[] = [];
const results: Record<string, unknown> = {};
const logFile = (name: string) => path.join(tmp, `${name}.log`);

async function withModels<T>(roles: string[], run: (ports: Record<string, number>) => Promise<T>): Promise<T> {
  const models = await startModels(roles, pinning);
  try {
    return await run(models.ready.ports);
  } finally {
    await models.stop();
  }
}

async function withApps<T>(specs: AppSpec[], run: (apps: App[]) => Promise<T>): Promise<T> {
  const apps: App[] = [];
  try {
    for (const spec of specs) apps.push(await startApp(spec));
    return await run(apps);
  } finally {
    for (const app of apps) {
      const code = await app.stop();
      if (code !== 0) {
        console.log(`\n**App ${app.name} exited with code ${code} while closing** (its stderr is above).\n`);
        appExits.push({ app: app.name, code });
      }
    }
  }
}

function baseSpecs(ports: Record<string, number>): Record<'A' | "A'" | 'B' | 'C', AppSpec> {
  const prodUrl = `http://127.0.0.1:${ports.prod}`;
  const shadowUrl = `http://127.0.0.1:${ports.fast}`;
  return {
    A: { name: 'A', mode: 'plain', prodUrl },
    "A'": { name: "A'", mode: 'plain', prodUrl },
    B: { name: 'B', mode: 'mirror', prodUrl, shadowUrl, logFile: logFile('B'), lib },
    C: { name: 'C', mode: 'sampled', prodUrl, shadowUrl, logFile: logFile('C'), sampleRate, lib },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// 1. Latency at a fixed load
// ---------------------------------------------------------------------------------------------------------------
let fixedSummaries: Record<string, ScenarioSummary> | undefined;
if (sections.has('fixed') || sections.has('cost')) {
  console.log(`## 1. Latency at a fixed load (${rate} req/s)\n`);
  const windows = await withModels(['prod', 'fast'], (ports) => {
    const specs = baseSpecs(ports);
    return withApps([specs.A, specs["A'"], specs.B, specs.C], (apps) => interleave(apps, rounds, 10_000));
  });
  const summaries = Object.fromEntries(['A', "A'", 'B', 'C'].map((s) => [s, summarise(windows, s)]));
  fixedSummaries = summaries;
  const a = summaries.A!;
  const labels: Record<string, string> = {
    A: 'A: no middleware',
    "A'": "A': no middleware, second app (noise floor)",
    B: 'B: 100 % mirrored, fast shadow',
    C: `C: ${sampleRate * 100} % sampled`,
  };
  const rel = (s: ScenarioSummary, value: number, base: number) => (s.scenario === 'A' ? '1' : fixed(ratio(value, base)));
  console.log('Whole-window percentiles, median of rounds:\n');
  console.log(
    markdownTable(
      ['scenario', 'p50 ms', 'p99 ms', 'p99.9 ms', 'p50 ×A', 'p99 ×A', 'p99.9 ×A', 'app CPU %', 'req/s achieved', 'errors'],
      Object.values(summaries).map((s) => [
        labels[s.scenario]!,
        fixed(s.p50),
        fixed(s.p99),
        fixed(s.p999),
        rel(s, s.p50, a.p50),
        rel(s, s.p99, a.p99),
        rel(s, s.p999, a.p999),
        fixed(s.cpuPercent, 0),
        fixed(s.achievedRate, 0),
        String(s.productionErrors),
      ]),
    ),
  );
  const spread = (s: string, key: 'p99' | 'p999') => {
    const values = windows.filter((w) => w.scenario === s).map((w) => w[key]);
    return `${fixed(Math.min(...values))}–${fixed(Math.max(...values))}`;
  };
  console.log(`\nRange of p99 over rounds: A ${spread('A', 'p99')}, A' ${spread("A'", 'p99')}, B ${spread('B', 'p99')}, C ${spread('C', 'p99')} ms.`);
  console.log('\nTypical-slice percentiles (p50, p99 of each 1 s slice, p99.9 of each 2 s slice; median over all slices of all rounds):\n');
  console.log(
    markdownTable(
      ['scenario', 'p50 ms', 'p99 ms', 'p99.9 ms', 'p50 ×A', 'p99 ×A', 'p99.9 ×A', 'event-loop delay p99 ms'],
      Object.values(summaries).map((s) => [
        labels[s.scenario]!,
        fixed(s.sliceP50),
        fixed(s.sliceP99),
        fixed(s.sliceP999),
        rel(s, s.sliceP50, a.sliceP50),
        rel(s, s.sliceP99, a.sliceP99),
        rel(s, s.sliceP999, a.sliceP999),
        fixed(s.eventLoopDelayP99),
      ]),
    ),
  );
  const verdict = (value: number, control: number) => `${value <= 1.05 ? 'met' : `missed by ${fixed((value - 1.05) * 100, 0)} points`} (${fixed(value)}; A'/A ${fixed(control)})`;
  console.log(`\nTarget B/A p99 ≤ 1.05 — whole window: ${verdict(ratio(summaries.B!.p99, a.p99), ratio(summaries["A'"]!.p99, a.p99))}; typical slice: ${verdict(ratio(summaries.B!.sliceP99, a.sliceP99), ratio(summaries["A'"]!.sliceP99, a.sliceP99))}.\n`);
  if (sections.has('fixed')) results.fixed = await writeOut('fixed-load', { ...common, summaries, windows });
}

// ---------------------------------------------------------------------------------------------------------------
// 2. Shadow in trouble
// ---------------------------------------------------------------------------------------------------------------
if (sections.has('trouble')) {
  console.log(`## 2. Shadow in trouble (${rate} req/s, 100 % mirrored)\n`);
  const troubles = [
    { name: 'fast', label: 'fast shadow (baseline)' },
    { name: 'slow', label: 'slow shadow (300 ms)' },
    { name: 'refuse', label: 'refusing connections' },
    { name: 'blackhole', label: 'black hole (accepts, never answers)' },
    { name: 'big', label: '5 MB answers' },
  ];
  const { windows, rss } = await withModels(['prod', ...troubles.map((t) => t.name)], async (ports) => {
    const prodUrl = `http://127.0.0.1:${ports.prod}`;
    const specs: AppSpec[] = troubles.map((t) => ({ name: t.name, mode: 'mirror', prodUrl, shadowUrl: `http://127.0.0.1:${ports[t.name]}`, logFile: logFile(`trouble-${t.name}`), lib }));
    return withApps(specs, async (apps) => {
      const rssStart: Record<string, number> = {};
      const heapStart: Record<string, HeapUsage> = {};
      for (const app of apps) {
        rssStart[app.name] = (await usage(app)).rss;
        heapStart[app.name] = await app.request<HeapUsage>('heap');
      }
      const measured = await interleave(apps, troubleRounds, quick ? 5000 : 15_000);
      const rssEnd: Record<string, number> = {};
      const heapEnd: Record<string, HeapUsage> = {};
      const stats: Record<string, unknown> = {};
      for (const app of apps) {
        const end = await usage(app);
        rssEnd[app.name] = end.rss;
        stats[app.name] = end.stats;
        heapEnd[app.name] = await app.request<HeapUsage>('heap');
      }
      return { windows: measured, rss: { start: rssStart, end: rssEnd, heapStart, heapEnd, stats } };
    });
  });
  const base = summarise(windows, 'fast');
  const rows = troubles.map((t) => {
    const s = summarise(windows, t.name);
    const mine = windows.filter((w) => w.scenario === t.name);
    const growth = rss.end[t.name]! - rss.start[t.name]!;
    const skipped: Record<string, number> = {};
    const failed: Record<string, number> = {};
    for (const w of mine) {
      for (const [k, v] of Object.entries(w.skipped ?? {})) skipped[k] = (skipped[k] ?? 0) + v;
      for (const [k, v] of Object.entries(w.failed ?? {})) failed[k] = (failed[k] ?? 0) + v;
    }
    const mirrored = mine.reduce((n, w) => n + (w.mirrored ?? 0), 0);
    const sent = mine.reduce((n, w) => n + w.sent, 0);
    const outcome = [
      `${fixed((mirrored / Math.max(1, sent)) * 100, 0)} % sent`,
      ...Object.entries(failed).map(([k, v]) => `${k} ${v}`),
      ...Object.entries(skipped).map(([k, v]) => `skipped ${k} ${v}`),
    ].join(', ');
    return [
      t.label,
      fixed(s.p50),
      fixed(s.p99),
      t.name === 'fast' ? '1' : fixed(ratio(s.p99, base.p99)),
      fixed(s.sliceP99),
      t.name === 'fast' ? '1' : fixed(ratio(s.sliceP99, base.sliceP99)),
      String(s.productionErrors),
      mib(rss.end[t.name]!),
      mib(growth),
      mib(rss.heapEnd[t.name]!.heapUsed + rss.heapEnd[t.name]!.external - rss.heapStart[t.name]!.heapUsed - rss.heapStart[t.name]!.external),
      fixed(s.cpuPercent, 0),
      outcome,
    ];
  });
  console.log(
    markdownTable(
      ['shadow', 'prod p50 ms', 'prod p99 ms', 'p99 × fast', 'typical-second p99 ms', '× fast', 'prod errors', 'RSS end MiB', 'RSS growth MiB', 'heap growth after GC MiB', 'app CPU %', 'mirror outcome'],
      rows,
    ),
  );
  console.log(
    `\nWhole-window p50/p99: medians of ${troubleRounds} interleaved rounds × ${seconds} s; typical-second p99: median over 1 s slices. ` +
      `RSS growth is from the idle app before warm-up to the end of the last round; heap growth is heapUsed + external after a full GC, same two moments.\n`,
  );
  results.trouble = await writeOut('trouble', { ...common, windows, rss, appExits });
}

// ---------------------------------------------------------------------------------------------------------------
// 3. Saturation throughput
// ---------------------------------------------------------------------------------------------------------------
if (sections.has('saturation')) {
  console.log(`## 3. Saturation throughput (autocannon, ${connections} connections)\n`);
  const runs = await withModels(['prod', 'fast'], (ports) => {
    const specs = baseSpecs(ports);
    return withApps([specs.A, specs.B], async (apps) => {
      const out: { scenario: string; round: number; result: SaturationResult; cpuPercent: number; mirroredShare?: number; skipped?: Record<string, number> }[] = [];
      for (const app of apps) {
        await saturate(app.url, connections, warmupSeconds, requestBody, requestHeaders);
        pinMainThread(app, pinning);
      }
      for (const app of apps) await settle(app, 10_000);
      for (let round = 0; round < saturationRounds; round++) {
        const order = round % 2 === 0 ? apps : [...apps].reverse();
        for (const app of order) {
          const before = await usage(app);
          const startedAt = performance.now();
          const result = await saturate(app.url, connections, seconds, requestBody, requestHeaders);
          const wallUs = (performance.now() - startedAt) * 1000;
          const after = await usage(app);
          const cpuPercent = ((cpuMicros(after) - cpuMicros(before)) / wallUs) * 100;
          const seen = after.stats && before.stats ? after.stats.seen - before.stats.seen : 0;
          const entry = {
            scenario: app.name,
            round: round + 1,
            result,
            cpuPercent,
            ...(after.stats && before.stats
              ? { mirroredShare: (after.stats.mirrored - before.stats.mirrored) / Math.max(1, seen), skipped: diffCounts(after.stats.skipped, before.stats.skipped) }
              : {}),
          };
          out.push(entry);
          console.error(`  round ${round + 1} ${app.name} ${fixed(result.requestsPerSecond, 0)} req/s, CPU ${fixed(cpuPercent, 0)} %, errors ${result.errors + result.non2xx}${entry.mirroredShare !== undefined ? `, mirrored ${fixed(entry.mirroredShare * 100, 0)} %` : ''}`);
          await settle(app, 10_000);
        }
      }
      return out;
    });
  });
  const med = (s: string) => median(runs.filter((r) => r.scenario === s).map((r) => r.result.requestsPerSecond));
  const cpu = (s: string) => median(runs.filter((r) => r.scenario === s).map((r) => r.cpuPercent));
  const mirroredShare = median(runs.filter((r) => r.scenario === 'B').map((r) => r.mirroredShare ?? Number.NaN));
  const satRatio = ratio(med('B'), med('A'));
  console.log(
    markdownTable(
      ['scenario', 'req/s (median)', 'app CPU %', 'mirrored', 'B/A'],
      [
        ['A: no middleware', fixed(med('A'), 0), fixed(cpu('A'), 0), '', ''],
        ['B: 100 % mirrored', fixed(med('B'), 0), fixed(cpu('B'), 0), `${fixed(mirroredShare * 100, 0)} %`, fixed(satRatio)],
      ],
    ),
  );
  console.log(`\nTarget B/A ≥ 0.80: ${satRatio >= 0.8 ? 'met' : `missed by ${fixed((0.8 - satRatio) * 100, 0)} points`}.\n`);
  results.saturation = await writeOut('saturation', { ...common, runs, medians: { A: med('A'), B: med('B'), ratio: satRatio, mirroredShare } });
}

// ---------------------------------------------------------------------------------------------------------------
// 4. Cost per mirrored request (CPU from the fixed-load rounds; a profile of A and B)
// ---------------------------------------------------------------------------------------------------------------
if (sections.has('cost') && fixedSummaries) {
  console.log(`## 4. Cost per mirrored request\n`);
  const a = fixedSummaries.A!;
  const b = fixedSummaries.B!;
  const c = fixedSummaries.C!;
  console.log(
    markdownTable(
      ['scenario', 'app CPU µs per request', 'over A'],
      [
        ['A: no middleware', fixed(a.cpuUsPerRequest, 0), ''],
        ["A': no middleware (second app)", fixed(fixedSummaries["A'"]!.cpuUsPerRequest, 0), fixed(fixedSummaries["A'"]!.cpuUsPerRequest - a.cpuUsPerRequest, 0)],
        ['B: 100 % mirrored', fixed(b.cpuUsPerRequest, 0), fixed(b.cpuUsPerRequest - a.cpuUsPerRequest, 0)],
        [`C: ${sampleRate * 100} % sampled`, fixed(c.cpuUsPerRequest, 0), fixed(c.cpuUsPerRequest - a.cpuUsPerRequest, 0)],
      ],
    ),
  );
  console.log(`\nprocess.cpuUsage() (all threads) over the fixed-load windows at ${rate} req/s, medians of rounds.\n`);

  // Profiles: A and B, fresh apps, same rate, profiler on only for the measured window.
  const profiles = await withModels(['prod', 'fast'], (ports) => {
    const specs = baseSpecs(ports);
    return withApps([specs.A, { ...specs.B, logFile: logFile('B-profile') }], async (apps) => {
      const out: Record<string, { breakdown: ProfileBreakdown; requests: number; file: string }> = {};
      for (const app of apps) {
        await fixedLoad(app, warmupSeconds);
        await settle(app, 5000);
        const file = path.join(profileDir, `${app.name}-${Date.now()}.cpuprofile`);
        await mkdir(profileDir, { recursive: true });
        await app.request('profile-start');
        const before = await usage(app);
        await fixedLoad(app, seconds);
        await settle(app, 5000);
        const after = await usage(app);
        await app.request('profile-stop', { file });
        const requests = after.served + after.errors - before.served - before.errors;
        const profile = JSON.parse(await readFile(file, 'utf8')) as CpuProfile;
        out[app.name] = { breakdown: analyseProfile(profile), requests, file };
      }
      return out;
    });
  });
  const perRequest = (name: string, category: string) => (profiles[name]!.breakdown.categories[category] ?? 0) / profiles[name]!.requests;
  const categories = CATEGORY_ORDER.filter((cat) => perRequest('A', cat) > 0.05 || perRequest('B', cat) > 0.05);
  const rows = categories.map((cat) => [cat, fixed(perRequest('A', cat), 1), fixed(perRequest('B', cat), 1), fixed(perRequest('B', cat) - perRequest('A', cat), 1)]);
  const busy = (name: string) => profiles[name]!.breakdown.busyUs / profiles[name]!.requests;
  rows.push(['**main thread busy, total**', fixed(busy('A'), 1), fixed(busy('B'), 1), fixed(busy('B') - busy('A'), 1)]);
  console.log(markdownTable(['where (main thread, V8 CPU profile)', 'A µs/req', 'B µs/req', 'B − A'], rows));
  console.log(`\nSampled every 100 µs over ${seconds} s at ${rate} req/s; profiles in ${profileDir}.`);
  const stageOf: Record<string, string[]> = {
    'capture (ours)': ['capture (ours)'],
    'dispatch (ours + got + Node HTTP client)': ['dispatch (ours)', 'dispatch: got', 'node: http client (no userland caller)'],
    'logging (record building + JSON.stringify + winston + file writes)': [
      'record building (ours: bodies, headers)',
      'logging: record.ts (ours, JSON.stringify)',
      'logging: winston',
      'node: fs (no userland caller)',
    ],
    'comparison (ours)': ['comparison (ours)'],
    'middleware glue (ours: decide, ids, queue, records)': ['middleware glue (ours: middleware.ts, decide, ids)'],
    'garbage collection': ['garbage collector'],
    'other (HTTP server, streams, timers, V8, production)': [
      'production app (bench/app.ts + express)',
      'node: http server/parser (no userland caller)',
      'node: net/streams/timers (no userland caller)',
      'node: other (no userland caller)',
      'V8/native (program)',
      'other deps',
      'loader (tsx)',
    ],
  };
  const stageRows = Object.entries(stageOf).map(([stage, cats]) => {
    const delta = cats.reduce((sum, cat) => sum + perRequest('B', cat) - perRequest('A', cat), 0);
    return [stage, fixed(delta, 0), `${fixed((delta / (busy('B') - busy('A'))) * 100, 0)} %`];
  });
  console.log(`\nThe difference B − A by stage (main thread µs per request):\n`);
  console.log(markdownTable(['stage', 'B − A µs/req', 'share'], stageRows));
  console.log(`\nOur functions in B by inclusive time (µs per request):\n`);
  console.log(markdownTable(['function', 'µs/req'], profiles.B!.breakdown.libInclusive.slice(0, 15).map((f) => [`\`${f.fn}\``, fixed(f.us / profiles.B!.requests, 1)])));
  console.log(`\nDependency functions in B by self time (µs per request):\n`);
  console.log(markdownTable(['function', 'µs/req'], profiles.B!.breakdown.depSelf.slice(0, 12).map((f) => [`\`${f.fn}\``, fixed(f.us / profiles.B!.requests, 1)])));
  console.log('');
  results.cost = await writeOut('cost', {
    ...common,
    cpuUsPerRequest: { A: a.cpuUsPerRequest, "A'": fixedSummaries["A'"]!.cpuUsPerRequest, B: b.cpuUsPerRequest, C: c.cpuUsPerRequest },
    profiles: Object.fromEntries(
      Object.entries(profiles).map(([name, p]) => [
        name,
        {
          requests: p.requests,
          busyUsPerRequest: p.breakdown.busyUs / p.requests,
          categoriesUsPerRequest: Object.fromEntries(Object.entries(p.breakdown.categories).map(([k, v]) => [k, v / p.requests])),
          packagesUsPerRequest: Object.fromEntries(Object.entries(p.breakdown.packages).map(([k, v]) => [k, v / p.requests])),
          libInclusiveUsPerRequest: p.breakdown.libInclusive.map((f) => ({ fn: f.fn, us: f.us / p.requests })),
          libSelfUsPerRequest: p.breakdown.libSelf.map((f) => ({ fn: f.fn, us: f.us / p.requests })),
          depSelfUsPerRequest: p.breakdown.depSelf.map((f) => ({ fn: f.fn, us: f.us / p.requests })),
        },
      ]),
    ),
  });
}

// ---------------------------------------------------------------------------------------------------------------
// 5. Report reader
// ---------------------------------------------------------------------------------------------------------------
if (sections.has('reader')) {
  console.log(`## 5. Report reader (${readerPairs.toLocaleString('en')} request pairs)\n`);
  const gen = path.join(benchDir, 'gen-logs.ts');
  const read = path.join(benchDir, 'read-logs.ts');
  if (!existsSync(gen) || !existsSync(read)) {
    console.log('Skipped: bench/gen-logs.ts and bench/read-logs.ts are not there yet.\n');
  } else {
    const logs = path.join(tmp, 'reader-logs');
    await runNode([gen, '--pairs', String(readerPairs), '--files', '4', '--rotate', '--out', logs]);
    const output = await runNode([read, path.join(logs, '*')], true);
    const figures = JSON.parse(output.slice(output.indexOf('{'))) as Record<string, unknown>;
    console.log(
      markdownTable(
        ['pairs', 'records', 'GB on disk', 'seconds', 'records/s', 'peak RSS MB'],
        [[readerPairs.toLocaleString('en'), String(figures.records), String(figures.gbOnDisk), String(figures.seconds), String(figures.recordsPerSecond), String(figures.peakRssMb)]],
      ),
    );
    console.log(`\nbench/read-logs.ts in its own process (peak RSS is its getrusage maxRSS).\n`);
    results.reader = await writeOut('reader', { ...common, pairs: readerPairs, figures });
  }
}

await rm(tmp, { recursive: true, force: true });
console.log(flags['no-write'] ? 'Results not written (--no-write).' : `Results: ${Object.values(results).join(', ')}`);

async function writeOut(name: string, data: unknown): Promise<string> {
  if (flags['no-write']) return '(not written)';
  return writeResult(`${name}${quick ? '-quick' : ''}${flags.tag ? `-${flags.tag}` : ''}`, data);
}

/** Runs a bench script under tsx (on the non-app CPUs) and returns its stdout. */
function runNode(args: string[], capture = false): Promise<string> {
  return new Promise((resolve, reject) => {
    const nodeArgs = ['--import', 'tsx', ...args];
    const [command, argv] = pinning.others ? ['taskset', ['-c', pinning.others, process.execPath, ...nodeArgs]] : [process.execPath, nodeArgs];
    const child = spawn(command, argv, { stdio: ['ignore', capture ? 'pipe' : 'ignore', 'inherit'] });
    let out = '';
    child.stdout?.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 || capture ? resolve(out) : reject(new Error(`${args[0]} exited with ${code}`))));
  });
}

