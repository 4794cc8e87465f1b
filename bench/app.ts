/**
 * The production app under test, shaped like the real use: `POST /predict` parses JSON and calls the production
 * model server over HTTP with a keep-alive agent, then answers with the model's prediction.
 *
 *   tsx bench/app.ts --mode plain|mirror|sampled --prod-url http://127.0.0.1:P [--shadow-url URL] [--log-file F]
 *                    [--sample-rate 0.1] [--lib ../lib/index.js]
 *
 * Sends `{ type: 'ready', port }` over IPC, then answers:
 *   usage          { cpu: process.cpuUsage(), rss, served, errors, stats: shadow.stats() }
 *   heap           heap in use after a full GC (needs --expose-gc, which bench/setup.ts passes)
 *   profile-start  starts the V8 CPU profiler (the one `--cpu-prof` uses) through node:inspector
 *   profile-stop   { file } stops it and writes the .cpuprofile to the given path
 *   exit           closes the middleware (flushing its log) and exits
 */
import { once } from 'node:events';
import { writeFile } from 'node:fs/promises';
import http from 'node:http';
import { Session } from 'node:inspector/promises';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import express from 'express';
import type { ShadowMiddleware, ShadowOptions } from '../lib/index.js';
import { serveParent } from './child.js';

const { values } = parseArgs({
  options: {
    mode: { type: 'string', default: 'plain' },
    'prod-url': { type: 'string' },
    'shadow-url': { type: 'string' },
    'log-file': { type: 'string' },
    'sample-rate': { type: 'string', default: '0.1' },
    'timeout-ms': { type: 'string' },
    'cooldown-ms': { type: 'string' },
    compare: { type: 'string', default: 'on' },
    // Another build of the library (a patched copy, or dist/) to measure instead of lib/.
    lib: { type: 'string' },
  },
});
const mode = values.mode;
if (mode !== 'plain' && mode !== 'mirror' && mode !== 'sampled') throw new Error(`--mode must be plain, mirror or sampled, got ${mode}`);
if (!values['prod-url']) throw new Error('--prod-url is required');
const prodUrl = new URL('/predict', values['prod-url']);

const libUrl = values.lib ? pathToFileURL(path.resolve(values.lib)).href : '../lib/index.js';
const { shadowMiddleware } = (await import(libUrl)) as typeof import('../lib/index.js');

// The app's own outbound pool to the production model, as a real service would have.
const modelAgent = new http.Agent({ keepAlive: true, maxSockets: 256, maxFreeSockets: 256 });

function callModel(body: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      prodUrl,
      { method: 'POST', agent: modelAgent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          if (res.statusCode !== 200) return reject(new Error(`model answered ${res.statusCode}`));
          try {
            resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
          } catch (error) {
            reject(error as Error);
          }
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

let shadow: ShadowMiddleware | undefined;
if (mode !== 'plain') {
  if (!values['shadow-url'] || !values['log-file']) throw new Error('--shadow-url and --log-file are required with a middleware');
  const options: ShadowOptions = {
    target: values['shadow-url'],
    logFile: values['log-file'],
    sampleRate: mode === 'sampled' ? Number(values['sample-rate']) : 1,
    // The summary record is written by close(); a 60 s timer would land in some windows and not others.
    summaryIntervalMs: 0,
  };
  if (values['timeout-ms']) options.timeoutMs = Number(values['timeout-ms']);
  if (values['cooldown-ms']) options.breaker = { cooldownMs: Number(values['cooldown-ms']) };
  if (values.compare === 'off') options.compare = false;
  shadow = shadowMiddleware(options);
}

let served = 0;
let errors = 0;
const app = express();
app.disable('x-powered-by');
if (shadow) app.use(shadow);
app.use(express.json());
app.post('/predict', async (req, res) => {
  try {
    const prediction = await callModel(JSON.stringify(req.body));
    served++;
    res.json(prediction);
  } catch (error) {
    errors++;
    res.status(502).json({ error: String(error) });
  }
});

const server = http.createServer({ keepAliveTimeout: 60_000 }, app);
server.listen(0, '127.0.0.1');
await once(server, 'listening');

let session: Session | undefined;
const loopDelay = monitorEventLoopDelay({ resolution: 5 });
loopDelay.enable();
serveParent(
  {
    usage: () => {
      // Event-loop delay since the previous usage report (ms): how long the app could not run anything.
      const eventLoopDelay = { p99: loopDelay.percentile(99) / 1e6, max: loopDelay.max / 1e6 };
      loopDelay.reset();
      return { cpu: process.cpuUsage(), rss: process.memoryUsage.rss(), served, errors, eventLoopDelay, stats: shadow?.stats() };
    },
    // Heap still in use after a full collection (the app runs with --expose-gc): growth here is a leak, not lazy GC.
    heap: () => {
      (globalThis as { gc?: () => void }).gc?.();
      const memory = process.memoryUsage();
      return { heapUsed: memory.heapUsed, external: memory.external, arrayBuffers: memory.arrayBuffers, rss: memory.rss };
    },
    'profile-start': async () => {
      session = new Session();
      session.connect();
      await session.post('Profiler.enable');
      await session.post('Profiler.setSamplingInterval', { interval: 100 });
      await session.post('Profiler.start');
      return {};
    },
    'profile-stop': async (payload) => {
      if (!session) throw new Error('profiler not started');
      const { profile } = await session.post('Profiler.stop');
      await writeFile((payload as { file: string }).file, JSON.stringify(profile));
      session.disconnect();
      session = undefined;
      return {};
    },
  },
  async () => {
    server.closeAllConnections();
    server.close();
    modelAgent.destroy();
    await shadow?.close({ timeoutMs: 2000 });
  },
);
process.send!({ type: 'ready', port: (server.address() as AddressInfo).port });
