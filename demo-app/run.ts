/**
 * `npm run demo`: the whole story in one command, on this machine only.
 *
 * 1. Starts two real sentiment models behind HTTP: v1 in production, v2 (the candidate) in shadow, and a second v1,
 *    production's replica, which shows how much production's own generated text varies.
 * 2. Starts the gateway, an ordinary Express app that answers from v1 and mirrors to v2 (and the replica) with
 *    express-shadow.
 * 3. Sends the demo's sentences through the gateway as live traffic: most to `POST /predict`, a share to the
 *    streaming `POST /generate`.
 * 4. Saves the gateway's Prometheus metrics (`GET /metrics`) once the shadow has caught up, stops the gateway, which
 *    drains the shadow and completes the log, then stops the models.
 * 5. Runs `express-shadow report` on the log: prints the text report, writes the HTML and JSON reports.
 *
 * Everything listens on 127.0.0.1 on free ports. Ctrl-C stops the traffic and goes straight to step 4; a second
 * Ctrl-C kills everything at once. `--serve` keeps the servers up for your own requests until Ctrl-C.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { access, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { parseSamples, sumBy, sumOf, type Sample } from './support/prometheus.js';
import { Service } from './support/services.js';
import { emptyTrafficResult, loadSentences, sendTraffic, type TrafficResult } from './traffic.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..');

const HELP = `Usage: npm run demo -- [options]

Runs a production model (v1), a candidate model in shadow (v2) and an Express gateway with express-shadow,
sends traffic, then prints the report comparing v2 with v1.

Options:
  --requests <n>              Requests to send. Default 400 (0 with --serve).
  --rate <n>                  Requests started per second; 0 for no limit. Default 50.
  --concurrency <n>           Requests in flight at once. Default 8.
  --generate-share <f>        Fraction of the requests sent to the streaming POST /generate. Default 0.2.
  --shadow-latency-ms <ms>    Extra latency of v2 (mean, spread ±50%). Default $SHADOW_LATENCY_MS or 20.
  --shadow-failure-rate <f>   Fraction of v2 calls that fail (half 500s, half dropped connections).
                              Default $SHADOW_FAILURE_RATE or 0.02.
  --prod-latency-ms <ms>      Latency of v1 (mean, spread ±50%). Default 5.
  --seed <n>                  Order of the sentences. Default 1.
  --serve                     Keep the servers up for your own curl requests; Ctrl-C stops them and reports.
  --replay                    Then replay the log's /predict traffic against v2 without its injected failures
                              ("v2-fixed") with \`express-shadow replay\`, and report on that (docs/replay.md).
  --port <n>                  The gateway's port (for a Prometheus scrape config, say). Default 0: a free one.
  --log-dir <dir>             Where the shadow log goes (shadow.log, replaced each run). Default demo-app/logs.
  --out-dir <dir>             Where the reports go (report.html, report.json, metrics.txt, run.json).
                              Default demo-app/out.
  -h, --help                  Show this help.
`;

interface DemoOptions {
  requests: number;
  rate: number;
  concurrency: number;
  generateShare: number;
  shadowLatencyMs: number;
  shadowFailureRate: number;
  prodLatencyMs: number;
  seed: number;
  serve: boolean;
  replay: boolean;
  port: number;
  logDir: string;
  outDir: string;
}

function parseOptions(argv: string[]): DemoOptions | 'help' {
  const { values } = parseArgs({
    args: argv,
    options: {
      requests: { type: 'string' },
      rate: { type: 'string', default: '50' },
      concurrency: { type: 'string', default: '8' },
      'generate-share': { type: 'string', default: '0.2' },
      'shadow-latency-ms': { type: 'string', default: process.env.SHADOW_LATENCY_MS ?? '20' },
      'shadow-failure-rate': { type: 'string', default: process.env.SHADOW_FAILURE_RATE ?? '0.02' },
      'prod-latency-ms': { type: 'string', default: '5' },
      seed: { type: 'string', default: '1' },
      serve: { type: 'boolean', default: false },
      replay: { type: 'boolean', default: false },
      port: { type: 'string', default: '0' },
      'log-dir': { type: 'string', default: path.join(HERE, 'logs') },
      'out-dir': { type: 'string', default: path.join(HERE, 'out') },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) return 'help';
  const number = (name: string, raw: string, min: number, max: number, integer = false): number => {
    const value = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(value) || value < min || value > max || (integer && !Number.isInteger(value))) {
      throw new UsageError(`--${name} must be ${integer ? 'an integer' : 'a number'} from ${min} to ${max}, got ${JSON.stringify(raw)}`);
    }
    return value;
  };
  return {
    requests: number('requests', values.requests ?? (values.serve ? '0' : '400'), 0, 1_000_000, true),
    rate: number('rate', values.rate, 0, 100_000),
    concurrency: number('concurrency', values.concurrency, 1, 1000, true),
    generateShare: number('generate-share', values['generate-share'], 0, 1),
    shadowLatencyMs: number('shadow-latency-ms', values['shadow-latency-ms'], 0, 60_000),
    shadowFailureRate: number('shadow-failure-rate', values['shadow-failure-rate'], 0, 1),
    prodLatencyMs: number('prod-latency-ms', values['prod-latency-ms'], 0, 60_000),
    seed: number('seed', values.seed, 0, 2 ** 32 - 1, true),
    serve: values.serve,
    replay: values.replay,
    port: number('port', values.port, 0, 65_535, true),
    logDir: path.resolve(values['log-dir']),
    outDir: path.resolve(values['out-dir']),
  };
}

/** Bad arguments (exit 2, with a pointer to --help) or a missing build step (exit 2, with what to run). */
class UsageError extends Error {
  constructor(
    message: string,
    readonly hint = 'See `npm run demo -- --help`.',
  ) {
    super(message);
  }
}

/** Paths as a person in the repository would type them. */
const show = (file: string): string => {
  const relative = path.relative(process.cwd(), file);
  return relative && !relative.startsWith('..') && !path.isAbsolute(relative) ? relative : file;
};
const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
const say = (line = ''): void => {
  process.stdout.write(`${line}\n`);
};

/** What the test (and anyone curious) reads back after a run. */
interface RunManifest {
  pids: Record<string, number | undefined>;
  urls: Record<string, string>;
  logFile: string;
  reports: { html: string; json: string };
  /** The last scrape of the gateway's `GET /metrics`, taken once the shadow had caught up, before it stopped. */
  metrics: string | null;
  traffic: TrafficResult;
  drained: unknown;
  interrupted: boolean;
  exits: Record<string, { code: number | null; signal: string | null }>;
  timingsMs: Record<string, number>;
}

async function main(): Promise<number> {
  const parsed = parseOptions(process.argv.slice(2));
  if (parsed === 'help') {
    process.stdout.write(HELP);
    return 0;
  }
  const options = parsed;
  await checkBuilt();
  const startedAt = performance.now();
  const timings: Record<string, number> = {};
  const logFile = path.join(options.logDir, 'shadow.log');
  const htmlReport = path.join(options.outDir, 'report.html');
  const jsonReport = path.join(options.outDir, 'report.json');
  const metricsFile = path.join(options.outDir, 'metrics.txt');
  await mkdir(options.logDir, { recursive: true });
  await mkdir(options.outDir, { recursive: true });
  // A fresh log each run: the report is about this run only.
  await rm(logFile, { force: true });
  await rm(metricsFile, { force: true });

  // ---- Ctrl-C: first stops the traffic (or the --serve wait) and goes to the drain; second kills everything.
  const services: Service[] = [];
  const interrupt = new AbortController();
  let interrupts = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    interrupts++;
    if (interrupts === 1) {
      say(`\n${signal === 'SIGINT' ? 'Ctrl-C' : signal}: no new requests; draining the shadow and stopping the servers (Ctrl-C again to kill them).`);
      interrupt.abort();
      return;
    }
    say('Killing the servers.');
    for (const service of services) service.kill();
    process.exit(130);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const manifest: RunManifest = {
    pids: {},
    urls: {},
    logFile,
    reports: { html: htmlReport, json: jsonReport },
    metrics: null,
    traffic: emptyTrafficResult(),
    drained: null,
    interrupted: false,
    exits: {},
    timingsMs: timings,
  };

  const v1 = new Service('v1', path.join(HERE, 'models/model-server.ts'), ['--model', 'v1', '--latency-ms', String(options.prodLatencyMs)], { cwd: ROOT });
  const v2 = new Service(
    'v2',
    path.join(HERE, 'models/model-server.ts'),
    ['--model', 'v2', '--latency-ms', String(options.prodLatencyMs + options.shadowLatencyMs), '--failure-rate', String(options.shadowFailureRate), '--seed', '3'],
    { cwd: ROOT },
  );
  // Production's replica: the same model as v1, in its own process (so it words its sentences its own way).
  const replica = new Service('v1-replica', path.join(HERE, 'models/model-server.ts'), ['--model', 'v1', '--latency-ms', String(options.prodLatencyMs), '--seed', '2'], { cwd: ROOT });
  services.push(v1, v2, replica);
  let gateway: Service | undefined;
  let gatewayUrl: string | undefined;
  let failure: unknown;

  try {
    say('express-shadow demo: v1 serves users, v2 answers the same requests in shadow, the report compares them.\n');
    const [v1Ready, v2Ready, replicaReady] = await Promise.all([v1.waitFor('listening', 30_000), v2.waitFor('listening', 30_000), replica.waitFor('listening', 30_000)]);
    const prodModelUrl = String(v1Ready.url);
    const shadowModelUrl = String(v2Ready.url);
    const replicaUrl = String(replicaReady.url);
    gateway = new Service('gateway', path.join(HERE, 'gateway.ts'), [], {
      cwd: ROOT,
      env: { PROD_MODEL_URL: prodModelUrl, SHADOW_MODEL_URL: shadowModelUrl, SECONDARY_MODEL_URL: replicaUrl, SHADOW_LOG_FILE: logFile, PORT: String(options.port), HOST: '127.0.0.1' },
    });
    services.push(gateway);
    gatewayUrl = String((await gateway.waitFor('listening', 30_000)).url);
    await checkHealth(gatewayUrl);
    timings.startup = performance.now() - startedAt;

    Object.assign(manifest.pids, { v1: v1.pid, v2: v2.pid, 'v1-replica': replica.pid, gateway: gateway.pid });
    Object.assign(manifest.urls, { v1: prodModelUrl, v2: shadowModelUrl, 'v1-replica': replicaUrl, gateway: gatewayUrl });
    const row = (role: string, url: string, pid: number | undefined, what: string): void => {
      say(`  ${role.padEnd(14)}${url.padEnd(24)}pid ${String(pid).padEnd(8)}${what}`);
    };
    row('v1 production', prodModelUrl, v1.pid, `${String(v1Ready.model)}, ~${options.prodLatencyMs} ms`);
    row(
      'v2 shadow',
      shadowModelUrl,
      v2.pid,
      `${String(v2Ready.model)}, ~${options.prodLatencyMs + options.shadowLatencyMs} ms, fails ${formatPercent(options.shadowFailureRate)}`,
    );
    row('v1 replica', replicaUrl, replica.pid, `production's replica (secondary): how much v1 varies from itself`);
    row('gateway', gatewayUrl, gateway.pid, 'Express 5 + express-shadow: POST /predict and /generate (SSE) are mirrored');
    say(`  ${'metrics'.padEnd(14)}${`${gatewayUrl}/metrics`.padEnd(38)}Prometheus, not mirrored (nor is GET /health)`);
    say(`  ${'shadow log'.padEnd(14)}${show(logFile)}`);
    say(`Ready in ${seconds(timings.startup)}.\n`);

    if (options.requests > 0 && !interrupt.signal.aborted) {
      const share = options.generateShare > 0 ? ` (${formatPercent(options.generateShare)} to /generate)` : '';
      say(
        `Sending ${options.requests} requests${share}${options.rate > 0 ? ` at ${options.rate} req/s` : ''}, ${options.concurrency} at a time, ` +
          `from ${show(fileURLToPath(new URL('./data/sentences.txt', import.meta.url)))}:`,
      );
      const traffic = await sendTraffic({
        url: gatewayUrl,
        sentences: loadSentences(),
        requests: options.requests,
        rate: options.rate,
        concurrency: options.concurrency,
        generateShare: options.generateShare,
        seed: options.seed,
        signal: interrupt.signal,
      });
      manifest.traffic = traffic;
      timings.traffic = traffic.durationMs;
      say(`  ${describeTraffic(traffic)}\n`);
    }

    if (options.serve && !interrupt.signal.aborted) {
      printCurlHelp(gatewayUrl, prodModelUrl, shadowModelUrl, logFile);
      await new Promise<void>((resolve) => interrupt.signal.addEventListener('abort', () => resolve(), { once: true }));
    }
  } catch (error) {
    failure = error;
  }

  // ---- The ending: drain, stop, report. Runs after an error or Ctrl-C too, so the log is always complete.
  manifest.interrupted = interrupt.signal.aborted && !options.serve;
  const drainStarted = performance.now();
  if (gateway?.running && gatewayUrl && !failure) {
    // What a Prometheus server would have scraped last. Taken once the shadow has caught up with the traffic (no
    // call in flight or queued, every request seen accounted for), so the counters match the log.
    try {
      const scrape = await scrapeSettled(gatewayUrl, 5000);
      await writeFile(metricsFile, scrape.text);
      manifest.metrics = metricsFile;
      timings.metricsScrape = scrape.waitedMs;
      say(`Metrics: ${describeMetrics(scrape.samples)}`);
      say(`  Last scrape of GET /metrics saved to ${show(metricsFile)}${scrape.settled ? '' : ' (the shadow had not caught up after 5 s)'}.\n`);
    } catch (error) {
      say(`Could not scrape ${gatewayUrl}/metrics: ${error instanceof Error ? error.message : String(error)}\n`);
    }
  }
  if (gateway?.running) {
    say('Stopping the gateway: it finishes the requests in progress and drains the shadow...');
    const exit = await gateway.stop(20_000);
    const drained = gateway.events.get('drained');
    manifest.drained = drained ?? null;
    if (drained) say(`  ${describeDrain(drained)}`);
    else say(`  The gateway exited (${exit.signal ?? `code ${exit.code}`}) without reporting a drain.`);
  }
  await Promise.all([v1.stop(5000), v2.stop(5000), replica.stop(5000)]);
  timings.drain = performance.now() - drainStarted;
  for (const service of services) {
    const exit = await service.exited;
    manifest.exits[service.name] = { code: exit.code, signal: exit.signal };
  }
  say(`  All servers stopped (${services.map((s) => `${s.name} pid ${s.pid}`).join(', ')}).\n`);

  let exitCode = 0;
  if (failure) {
    say(`The demo failed: ${failure instanceof Error ? failure.message : String(failure)}`);
    exitCode = 1;
  } else if (!(await hasRecords(logFile))) {
    say('Nothing was sent through the gateway, so there is nothing to report.');
  } else {
    const reportStarted = performance.now();
    exitCode = await report(logFile, htmlReport, jsonReport);
    timings.report = performance.now() - reportStarted;
    if (exitCode === 0) await printDisagreements(logFile);
    say(`HTML report: ${show(htmlReport)}   (${pathToFileURL(htmlReport).href})`);
    say(`JSON report: ${show(jsonReport)}`);
    say(`Shadow log:  ${show(logFile)}`);
    if (manifest.metrics) say(`Metrics:     ${show(manifest.metrics)}   (Grafana dashboard: ${show(path.join(HERE, 'grafana/express-shadow-dashboard.json'))})`);
    if (exitCode === 0 && options.replay && !manifest.interrupted) exitCode = await replayDemo(logFile, options);
  }

  timings.total = performance.now() - startedAt;
  await writeFile(path.join(options.outDir, 'run.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  say(`\nDone in ${seconds(timings.total)}${manifest.interrupted ? ' (interrupted)' : ''}.`);
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  if (exitCode === 0 && manifest.interrupted) return 130;
  return exitCode;
}

/**
 * `--replay`: the log's /predict traffic sent again, to v2 without the injected failures, by the package's own
 * `express-shadow replay`, then reported. The fields naming the model differ by design and are left out.
 */
async function replayDemo(logFile: string, options: DemoOptions): Promise<number> {
  const replayLog = path.join(options.outDir, 'replay.log');
  await rm(replayLog, { force: true });
  const fixed = new Service('v2-fixed', path.join(HERE, 'models/model-server.ts'), ['--model', 'v2', '--latency-ms', String(options.prodLatencyMs)], { cwd: ROOT });
  const bin = await cliPath();
  try {
    const ready = await fixed.waitFor('listening', 30_000);
    say(`\nReplay: the same /predict requests, sent again to v2 without its injected failures (v2-fixed, ${String(ready.url)}).\n`);
    const args = ['replay', show(logFile), '--target', String(ready.url), '--name', 'v2-fixed', '--out', show(replayLog), '--methods', 'POST', '--route', '/predict',
      '--rate', '200', '--ignore-path', '$.model', '--ignore-path', '$.version', '--ignore-path', '$.score'];
    say(`$ npx express-shadow ${args.map(quoteArg).join(' ')}`);
    const code = await runCli(bin, args, 'inherit');
    if (code !== 0) return code;
    const reportArgs = ['report', show(replayLog), '--label-path', '$.label', '--out', show(path.join(options.outDir, 'replay-report.html'))];
    say(`\n$ npx express-shadow ${reportArgs.map(quoteArg).join(' ')}`);
    return await runCli(bin, reportArgs, 'inherit');
  } finally {
    await fixed.stop(5000);
  }
}

/** The gateway imports the package by its name, which resolves to dist/: it must have been built. */
async function checkBuilt(): Promise<void> {
  try {
    await access(fileURLToPath(import.meta.resolve('express-shadow')));
  } catch {
    throw new UsageError('express-shadow is not built: dist/ is missing.', 'Run `npm run build` first (`npm run demo` does both).');
  }
}

async function checkHealth(baseUrl: string): Promise<void> {
  await getText(new URL('/health', baseUrl));
}

/** GET, expecting a 200; the body as text. */
async function getText(url: URL): Promise<string> {
  const req = http.get(url, { agent: false, timeout: 5000 });
  req.on('timeout', () => req.destroy(new Error('timed out')));
  const [res] = (await once(req, 'response')) as [http.IncomingMessage];
  let body = '';
  res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
  await once(res, 'end');
  if (res.statusCode !== 200) throw new Error(`gateway ${url.pathname} answered ${res.statusCode}`);
  return body;
}

/**
 * Scrapes `GET /metrics` until the shadow has caught up with the traffic: nothing in flight or queued, and every
 * request the middleware saw is counted as mirrored, skipped or left out (a request is counted once production's
 * response has closed, a moment after the client has it). Gives up waiting after `timeoutMs`.
 */
async function scrapeSettled(baseUrl: string, timeoutMs: number): Promise<{ text: string; samples: Sample[]; settled: boolean; waitedMs: number }> {
  const started = performance.now();
  for (;;) {
    const text = await getText(new URL('/metrics', baseUrl));
    const samples = parseSamples(text);
    const seen = sumOf(samples, 'express_shadow_requests_seen_total');
    const accounted =
      sumOf(samples, 'express_shadow_requests_mirrored_total') +
      sumOf(samples, 'express_shadow_requests_skipped_total') +
      sumOf(samples, 'express_shadow_requests_not_mirrored_total');
    const settled = sumOf(samples, 'express_shadow_in_flight') === 0 && sumOf(samples, 'express_shadow_queued') === 0 && seen === accounted;
    const waitedMs = performance.now() - started;
    if (settled || waitedMs >= timeoutMs) return { text, samples, settled, waitedMs };
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

function describeMetrics(samples: Sample[]): string {
  const list = (counts: Record<string, number>): string =>
    Object.entries(counts)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([key, count]) => `${key} ${count}`)
      .join(', ') || 'none';
  return (
    `requests_mirrored_total ${list(sumBy(samples, 'express_shadow_requests_mirrored_total', 'route'))}; ` +
    `comparisons_total ${list(sumBy(samples, 'express_shadow_comparisons_total', 'outcome'))}; ` +
    `shadow_errors_total ${list(sumBy(samples, 'express_shadow_shadow_errors_total', 'code'))}; ` +
    `5xx ${sumOf(samples, 'express_shadow_shadow_responses_total', { status_class: '5xx' })}.`
  );
}

/**
 * The report, made by the package's own CLI exactly as a user would run it on their logs: the text version on
 * stdout, then the HTML and JSON versions into files.
 */
async function report(logFile: string, htmlReport: string, jsonReport: string): Promise<number> {
  const bin = await cliPath();
  const common = [show(logFile), '--label-path', '$.label'];
  say(`$ npx express-shadow report ${common.map(quoteArg).join(' ')}\n`);
  const text = await runCli(bin, ['report', ...common], 'inherit');
  // Exit 1 is the verdict failing (the demo's candidate has a planted flaw): a finding, not a failed demo.
  if (text !== 0 && text !== 1) {
    say(`express-shadow report exited with ${text}.`);
    return text;
  }
  for (const [file, format] of [
    [htmlReport, 'html'],
    [jsonReport, 'json'],
  ] as const) {
    const code = await runCli(bin, ['report', ...common, '--format', format, '--out', file], 'ignore');
    if (code !== 0 && code !== 1) {
      say(`express-shadow report --format ${format} exited with ${code}.`);
      return code;
    }
  }
  say('');
  return 0;
}

/** The `bin` of this package, found the way Node finds the package itself (its `exports`, by name). */
async function cliPath(): Promise<string> {
  const packageJson = fileURLToPath(import.meta.resolve('express-shadow/package.json'));
  const { bin } = JSON.parse(await readFile(packageJson, 'utf8')) as { bin: Record<string, string> };
  return path.resolve(path.dirname(packageJson), bin['express-shadow']!);
}

/** Runs the CLI; its stderr (a progress bar on a terminal, errors) is shown only if it fails. */
async function runCli(bin: string, args: string[], stdout: 'inherit' | 'ignore'): Promise<number> {
  const child = spawn(process.execPath, [bin, ...args], { cwd: process.cwd(), stdio: ['ignore', stdout, 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const [code] = (await once(child, 'close')) as [number | null];
  if (code !== 0) process.stderr.write(stderr);
  return code ?? 1;
}

/** A few requests where the two models disagree, read back with the package's own log reader. */
async function printDisagreements(logFile: string): Promise<void> {
  const { readShadowLog } = await import('express-shadow');
  const examples: string[] = [];
  const streamed: string[] = [];
  let disagreements = 0;
  let streamedDisagreements = 0;
  let firstId: string | undefined;
  for await (const entry of readShadowLog([logFile])) {
    // The candidate's records (the replica's are the noise floor, not a disagreement).
    const comparison = entry.comparisons.find((c) => c.role !== 'secondary');
    const shadow = entry.shadows.find((s) => s.role !== 'secondary');
    if (!entry.production || !comparison || comparison.match || !shadow || shadow.status !== 200) continue;
    const text = (entry.production.request.body as { text?: unknown } | undefined)?.text;
    if (entry.production.route === '/generate') {
      // A streamed answer: what each model said is the text its events assembled to.
      streamedDisagreements++;
      if (streamed.length >= 2) continue;
      const score = comparison.similarity?.[0]?.score;
      streamed.push(
        `  ${JSON.stringify(text)}${score === undefined ? '' : ` (similarity ${score.toFixed(2)})`}\n` +
          `    v1: ${JSON.stringify(entry.production.response.stream?.assembled)}\n` +
          `    v2: ${JSON.stringify(shadow.response?.stream?.assembled)}`,
      );
      continue;
    }
    disagreements++;
    if (examples.length >= 5) continue;
    const v1Label = (entry.production.response.body as { label?: unknown } | undefined)?.label;
    const v2Label = (shadow.response?.body as { label?: unknown } | undefined)?.label;
    examples.push(`  ${String(v1Label).padEnd(8)} → ${String(v2Label).padEnd(8)}  ${JSON.stringify(text)}`);
    firstId ??= entry.requestId;
  }
  if (disagreements > 0) {
    say(`Some of the ${disagreements} /predict answers where v2 disagrees with v1 (v1 → v2):`);
    for (const line of examples) say(line);
    say(`  Each request's records share its requestId: grep ${firstId} ${show(logFile)}\n`);
  }
  if (streamedDisagreements > 0) {
    say(`Some of the ${streamedDisagreements} streamed /generate answers where v2 said something else (its sentence, assembled from the deltas, shares too few words with v1's: token F1 under 0.4):`);
    for (const line of streamed) say(line);
    say('');
  }
}

async function hasRecords(logFile: string): Promise<boolean> {
  try {
    return (await readFile(logFile, 'utf8')).includes('"type":"production"');
  } catch {
    return false;
  }
}

function describeTraffic(traffic: TrafficResult): string {
  const routes = Object.entries(traffic.byRoute)
    .sort(([a], [b]) => b.localeCompare(a))
    .map(([route, count]) => `${count} ${route}`);
  const streams =
    traffic.streams.answers > 0
      ? ` /generate answered with ${traffic.streams.answers} event streams, ${(traffic.streams.events / traffic.streams.answers).toFixed(1)} events each on average` +
        `${traffic.streams.incomplete > 0 ? `, ${traffic.streams.incomplete} without [DONE]` : ''}.`
      : '';
  const statuses = Object.entries(traffic.byStatus)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([status, count]) => `${count} × ${status}`);
  const errors = Object.entries(traffic.errors).map(([code, count]) => `${count} × ${code}`);
  const labels = Object.entries(traffic.labels)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([label, count]) => `${count} ${label}`);
  const rate = traffic.durationMs > 0 ? (traffic.sent / (traffic.durationMs / 1000)).toFixed(0) : '-';
  return (
    `Sent ${traffic.sent} requests (${routes.join(', ') || 'none'}) in ${seconds(traffic.durationMs)} (${rate} req/s)${traffic.stopped ? ', stopped early' : ''}: ` +
    `${[...statuses, ...errors].join(', ') || 'no answers'}.${streams} Production said: ${labels.join(', ') || '-'}.`
  );
}

function describeDrain(drained: Record<string, unknown>): string {
  const stats = drained.stats as { mirrored?: number; succeeded?: number; failed?: Record<string, number>; skipped?: Record<string, number> } | undefined;
  const failed = Object.entries(stats?.failed ?? {}).map(([code, count]) => `${count} ${code}`);
  const skipped = Object.entries(stats?.skipped ?? {}).map(([reason, count]) => `${count} ${reason}`);
  return (
    `Drained in ${String(drained.drainMs)} ms (${plural(Number(drained.inFlightAtClose), 'shadow call')} still in flight at close). ` +
    `Mirrored ${stats?.mirrored ?? '?'}: ${stats?.succeeded ?? '?'} answered` +
    `${failed.length > 0 ? `, failed: ${failed.join(', ')}` : ''}${skipped.length > 0 ? `; skipped: ${skipped.join(', ')}` : ''}.`
  );
}

function printCurlHelp(gatewayUrl: string, prodModelUrl: string, shadowModelUrl: string, logFile: string): void {
  const body = JSON.stringify({ text: 'Not a fan of the new design.' });
  say('The servers stay up. In another terminal, try:\n');
  say(`  curl -si ${gatewayUrl}/predict -H 'content-type: application/json' -d '${body}'`);
  say(`  curl -sN ${gatewayUrl}/generate -H 'content-type: application/json' -d '${body}'   # streamed (SSE)`);
  say(`  curl -s ${gatewayUrl}/metrics                                         # Prometheus; not mirrored`);
  say(`  curl -s ${gatewayUrl}/health                                          # not mirrored`);
  say(`  curl -s ${shadowModelUrl}/predict -d '${body}'   # v2 directly`);
  say(`  curl -s ${prodModelUrl}/predict -d '${body}'   # v1 directly`);
  say(`  tail -f ${show(logFile)}`);
  say('\nPress Ctrl-C to stop: the gateway drains the shadow, then the report is printed.\n');
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}

function formatPercent(ratio: number): string {
  return `${Number((ratio * 100).toFixed(2))}%`;
}

function quoteArg(arg: string): string {
  return /^[\w./:@=-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      const hint = error instanceof UsageError ? error.hint : 'See `npm run demo -- --help`.';
      process.stderr.write(`${(error as Error).message}\n${hint}\n`);
      process.exitCode = 2;
      return;
    }
    console.error(error);
    process.exitCode = 1;
  },
);
