/**
 * `npm run soak`: steady load through an app with the middleware while the shadow black-holes every request for a
 * while, then recovers (issue 3). Every `--interval` seconds it prints production p50/p99, production errors, the
 * app's RSS and the breaker's state; at the end, the breaker's transitions from the log's `breaker` records.
 *
 *   npm run soak                                   10 s healthy, 60 s black hole, 60 s recovery at 300 req/s
 *   npm run soak -- --quick                        3 s / 10 s / 10 s with a 1 s timeout and a 3 s cooldown
 *   npm run soak -- --rate 500 --blackhole 120 --recover 45 --timeout-ms 2000 --cooldown-ms 10000
 *
 * Black-holed requests are read and never answered: the shadow calls hang until the middleware's timeout
 * (`timeoutMs`, default 5 s), the breaker opens after its failure threshold, and after each cooldown
 * (default 30 s) one probe goes through; the first probe after the shadow recovers closes it again.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { pacedLoad } from './paced-load.js';
import {
  choosePinning,
  describeMachine,
  libRevision,
  requestBody,
  requestHeaders,
  startApp,
  pinMainThread,
  startModels,
  writeResult,
  type HeapUsage,
  type Usage,
} from './setup.js';
import { fixed, markdownTable, mib, percentile, sortedCopy } from './stats.js';

const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    rate: { type: 'string', default: '300' },
    healthy: { type: 'string' },
    blackhole: { type: 'string' },
    recover: { type: 'string' },
    interval: { type: 'string', default: '5' },
    warmup: { type: 'string' },
    'timeout-ms': { type: 'string' },
    'cooldown-ms': { type: 'string' },
    pin: { type: 'string', default: 'on' },
    lib: { type: 'string' },
    tag: { type: 'string' },
    'no-write': { type: 'boolean', default: false },
  },
});
const quick = flags.quick;
const rate = Number(flags.rate);
const healthyS = Number(flags.healthy ?? (quick ? 3 : 10));
const blackholeS = Number(flags.blackhole ?? (quick ? 10 : 60));
const recoverS = Number(flags.recover ?? (quick ? 10 : 60));
const intervalS = Number(flags.interval);
const warmupS = Number(flags.warmup ?? (quick ? 2 : 5));
const timeoutMs = flags['timeout-ms'] !== undefined ? Number(flags['timeout-ms']) : quick ? 1000 : undefined;
const cooldownMs = flags['cooldown-ms'] !== undefined ? Number(flags['cooldown-ms']) : quick ? 3000 : undefined;
const totalS = healthyS + blackholeS + recoverS;

const pinning = choosePinning(flags.pin !== 'off');
const machine = describeMachine(pinning);
const tmp = await mkdtemp(path.join(os.tmpdir(), 'express-shadow-soak-'));
const logFile = path.join(tmp, 'soak.log');

console.log(`# express-shadow soak${quick ? ' (--quick)' : ''}\n`);
console.log(`Machine: ${machine.cpus} × ${machine.cpuModel}, Node ${machine.node}; ${machine.pinning}.`);
console.log(
  `${rate} req/s; shadow healthy ${healthyS} s, black hole ${blackholeS} s, recovering ${recoverS} s; ` +
    `timeoutMs ${timeoutMs ?? '5000 (default)'}, breaker cooldownMs ${cooldownMs ?? '30000 (default)'}.\n`,
);

const models = await startModels(['prod', 'switch'], pinning);
const app: Awaited<ReturnType<typeof startApp>> = await startApp(
  {
    name: 'soak',
    mode: 'mirror',
    prodUrl: `http://127.0.0.1:${models.ready.ports.prod}`,
    shadowUrl: `http://127.0.0.1:${models.ready.ports.switch}`,
    logFile,
    ...(timeoutMs !== undefined ? { timeoutMs } : {}),
    ...(cooldownMs !== undefined ? { cooldownMs } : {}),
    lib: flags.lib ? path.resolve(flags.lib) : undefined,
  },
);
// Pinned before its engine worker starts, so the worker shares CPU 0 too: the soak measures stability, not cost.
pinMainThread(app, pinning);

interface Interval {
  t: number;
  phase: string;
  requests: number;
  p50: number;
  p99: number;
  errors: number;
  rssMiB: number;
  breaker: string;
  mirrored: number;
  failed: number;
  skipped: number;
  notMirroredBreakerOpen: number;
  inFlight: number;
  queued: number;
}

const rssStart = (await app.request<Usage>('usage')).rss;
const heapStart = await app.request<HeapUsage>('heap');
// Warm the app up (JIT, pools) with the shadow healthy; not measured.
await pacedLoad({ url: app.url, rate, durationS: warmupS, method: 'POST', body: requestBody, headers: requestHeaders });

const start = performance.now();
const phaseAt = (seconds: number) => (seconds < healthyS ? 'healthy' : seconds < healthyS + blackholeS ? 'black hole' : 'recovering');
let bucket: number[] = [];
let bucketErrors = 0;
const phaseLatencies: Record<string, number[]> = { healthy: [], 'black hole': [], recovering: [] };
const phaseErrors: Record<string, number> = { healthy: 0, 'black hole': 0, recovering: 0 };

const sum = (counts: Record<string, number> = {}) => Object.values(counts).reduce((a, b) => a + b, 0);
let previous = await app.request<Usage>('usage');
const intervals: Interval[] = [];
const timers: NodeJS.Timeout[] = [];

timers.push(setTimeout(() => void models.request('blackhole', { on: true }), healthyS * 1000));
timers.push(setTimeout(() => void models.request('blackhole', { on: false }), (healthyS + blackholeS) * 1000));
console.log(markdownTable(['t s', 'phase', 'requests', 'prod p50 ms', 'prod p99 ms', 'prod errors', 'RSS MiB', 'breaker', 'mirrored', 'shadow failed', 'breaker-open drops', 'skipped', 'in flight + queued'], []));
const reporter = setInterval(() => {
  void (async () => {
    // The extra report after the load ends covers its tail, if any.
    if (loadDone && bucket.length + bucketErrors === 0) return;
    const now = await app.request<Usage>('usage');
    const t = Math.round((performance.now() - start) / 1000);
    const latencies = sortedCopy(bucket);
    const stats = now.stats!;
    const before = previous.stats!;
    const row: Interval = {
      t,
      phase: phaseAt(t - intervalS / 2),
      requests: bucket.length + bucketErrors,
      p50: percentile(latencies, 0.5),
      p99: percentile(latencies, 0.99),
      errors: bucketErrors,
      rssMiB: now.rss / 1_048_576,
      breaker: Object.values(stats.breakers).join(','),
      mirrored: stats.mirrored - before.mirrored,
      failed: sum(stats.failed) - sum(before.failed),
      skipped: sum(stats.skipped) - sum(before.skipped),
      notMirroredBreakerOpen: (stats.notMirrored.breaker_open ?? 0) - (before.notMirrored.breaker_open ?? 0),
      inFlight: stats.inFlight,
      queued: stats.queued,
    };
    bucket = [];
    bucketErrors = 0;
    previous = now;
    intervals.push(row);
    console.log(
      `| ${row.t} | ${row.phase} | ${row.requests} | ${fixed(row.p50)} | ${fixed(row.p99)} | ${row.errors} | ${fixed(row.rssMiB, 1)} | ${row.breaker} | ${row.mirrored} | ${row.failed} | ${row.notMirroredBreakerOpen} | ${row.skipped} | ${row.inFlight + row.queued} |`,
    );
  })();
}, intervalS * 1000);

let loadDone = false;
const load = await pacedLoad({
  url: app.url,
  rate,
  durationS: totalS,
  method: 'POST',
  body: requestBody,
  headers: requestHeaders,
  onSample(latencyMs, finishedAt, ok) {
    const phase = phaseAt((finishedAt - start) / 1000);
    if (ok) {
      bucket.push(latencyMs);
      phaseLatencies[phase]!.push(latencyMs);
    } else {
      bucketErrors++;
      phaseErrors[phase]!++;
    }
  },
});
loadDone = true;
// One more report for the tail of the last interval.
await new Promise((resolve) => setTimeout(resolve, intervalS * 1000 - (((performance.now() - start) / 1000) % intervalS) * 1000 + 50));
clearInterval(reporter);
for (const timer of timers) clearTimeout(timer);
const end = await app.request<Usage>('usage');
const heapEnd = await app.request<HeapUsage>('heap');
const exitCode = await app.stop();
await models.stop();

// The breaker's transitions, from the log (close() has flushed it).
const startWall = Date.now() - (performance.now() - start);
const transitions = (await readFile(logFile, 'utf8'))
  .split('\n')
  .filter((line) => line.includes('"type":"breaker"'))
  .map((line) => JSON.parse(line) as { timestamp: string; state: string; reason: string })
  .map((r) => ({ t: (Date.parse(r.timestamp) - startWall) / 1000, state: r.state, reason: r.reason }));
await rm(tmp, { recursive: true, force: true });

const phaseRows = Object.entries(phaseLatencies).map(([phase, values]) => {
  const sorted = sortedCopy(values);
  return [phase, String(values.length + phaseErrors[phase]!), fixed(percentile(sorted, 0.5)), fixed(percentile(sorted, 0.99)), String(phaseErrors[phase])];
});
const rssMax = Math.max(...intervals.map((i) => i.rssMiB));
console.log(`\n## Production by phase\n`);
console.log(markdownTable(['phase', 'requests', 'p50 ms', 'p99 ms', 'errors'], phaseRows));
console.log(`\nRSS: ${mib(rssStart)} MiB before warm-up, max ${fixed(rssMax, 1)} MiB, ${mib(end.rss)} MiB at the end.`);
console.log(`Heap in use after a full GC (heapUsed + external): ${mib(heapStart.heapUsed + heapStart.external)} MiB before warm-up, ${mib(heapEnd.heapUsed + heapEnd.external)} MiB at the end.`);
if (exitCode !== 0) console.log(`**The app exited with code ${exitCode} while closing.**`);
console.log(`Load: ${load.sent} sent at ${fixed(load.achievedRate, 0)} req/s, ${load.errors + load.non2xx} production errors in all.`);
console.log(`\n## Breaker transitions (from the log's breaker records; t = seconds since load started)\n`);
console.log(markdownTable(['t s', 'state', 'reason'], transitions.map((tr) => [fixed(tr.t, 1), tr.state, tr.reason])));
console.log(`\nShadow stats at the end: ${JSON.stringify({ mirrored: end.stats?.mirrored, failed: end.stats?.failed, skipped: end.stats?.skipped, notMirrored: end.stats?.notMirrored })}`);

if (!flags['no-write']) {
  const name = `soak${quick ? '-quick' : ''}${flags.tag ? `-${flags.tag}` : ''}`;
  const file = await writeResult(name, {
    machine,
    revision: libRevision(),
    settings: { rate, warmupS, healthyS, blackholeS, recoverS, intervalS, timeoutMs: timeoutMs ?? 5000, cooldownMs: cooldownMs ?? 30_000, lib: flags.lib ?? 'lib/' },
    intervals,
    phases: Object.fromEntries(phaseRows.map(([phase, requests, p50, p99, errors]) => [phase, { requests: Number(requests), p50: Number(p50), p99: Number(p99), errors: Number(errors) }])),
    rss: { startMiB: rssStart / 1_048_576, maxMiB: rssMax, endMiB: end.rss / 1_048_576 },
    heapAfterGc: { startMiB: (heapStart.heapUsed + heapStart.external) / 1_048_576, endMiB: (heapEnd.heapUsed + heapEnd.external) / 1_048_576 },
    appExitCode: exitCode,
    productionErrors: load.errors + load.non2xx,
    transitions,
    endStats: end.stats,
  });
  console.log(`\nResults: ${file}`);
}
