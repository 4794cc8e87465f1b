// Where the mirroring CPU goes, by thread: the app's main thread, the engine's worker thread, and the rest (V8's
// platform threads, which do most of garbage collection and compilation, and libuv's threadpool). The same load as
// engine-cost.mjs (a closed loop of 16 clients, ~1 KB JSON, fast loopback shadow), plain app and app with the
// middleware interleaved A B A B. Per-thread CPU is the kernel's (/proc/self/task/<tid>/schedstat), so it counts
// time on CPU only. Run from a built checkout: `node bench/engine-threads.mjs` (REQUESTS, default 4000).
import { fork } from 'node:child_process';
import http from 'node:http';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const role = process.argv[2];
const root = process.cwd();

/** CPU ns of every thread of this process, by tid. */
function threadCpu() {
  const cpu = new Map();
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      cpu.set(Number(tid), Number(readFileSync(`/proc/self/task/${tid}/schedstat`, 'utf8').split(' ')[0]));
    } catch {
      // The thread ended meanwhile.
    }
  }
  return cpu;
}

if (role === 'shadow') {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{"label":"positive","score":0.91}'));
  });
  server.keepAliveTimeout = 60000;
  server.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }));
} else if (role === 'app') {
  const { createRequire } = await import('node:module');
  const express = createRequire(join(root, 'package.json'))('express');
  const app = express();
  const before = new Set(threadCpu().keys());
  let mw = null;
  if (process.env.MODE === 'mirror') {
    const { shadowMiddleware } = await import(resolve(root, 'dist/index.js'));
    mw = shadowMiddleware({ target: process.env.TARGET, logFile: process.env.LOG_FILE, summaryIntervalMs: 0 });
    app.use(mw);
  }
  app.use(express.json());
  app.post('/predict', (req, res) => res.json({ label: 'positive', score: 0.9, n: req.body?.text?.length ?? 0 }));
  const server = app.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }));
  server.keepAliveTimeout = 60000;
  let start;
  process.on('message', async (m) => {
    if (m === 'start') {
      start = threadCpu();
      process.send({ started: true });
      return;
    }
    const end = threadCpu();
    const used = (tid) => ((end.get(tid) ?? 0) - (start.get(tid) ?? 0)) / 1000;
    // The engine's worker is the busiest thread that was not there before the middleware was made.
    const fresh = [...end.keys()].filter((tid) => !before.has(tid) && tid !== process.pid);
    const worker = fresh.sort((a, b) => used(b) - used(a))[0];
    let all = 0;
    for (const tid of end.keys()) all += used(tid);
    const main = used(process.pid);
    const engine = worker === undefined || !mw ? 0 : used(worker);
    if (mw) await mw.close({ timeoutMs: 10000 });
    process.send({ main, worker: engine, rest: all - main - engine, mirrored: mw ? mw.stats().mirrored : null });
  });
} else {
  const dir = mkdtempSync(join(tmpdir(), 'engine-threads-'));
  const N = Number(process.env.REQUESTS ?? 4000);
  const body = JSON.stringify({ text: 'x'.repeat(900) });
  const start = (args, env) =>
    new Promise((res) => {
      const child = fork(new URL(import.meta.url).pathname, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      child.once('message', (m) => res({ child, port: m.port }));
    });
  const ask = (child, msg) => new Promise((res) => { child.once('message', res); child.send(msg); });
  async function load(port, n) {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
    let next = 0;
    const one = () => new Promise((res, rej) => {
      const req = http.request({ host: '127.0.0.1', port, path: '/predict', method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (r) => { r.resume(); r.on('end', res); });
      req.on('error', rej);
      req.end(body);
    });
    await Promise.all(Array.from({ length: 16 }, async () => { while (next++ < n) await one(); }));
    agent.destroy();
  }
  const shadow = await start(['shadow'], {});
  const rounds = [];
  for (let i = 0; i < 2; i++) {
    for (const mode of ['plain', 'mirror']) {
      const app = await start(['app'], { MODE: mode, TARGET: `http://127.0.0.1:${shadow.port}`, LOG_FILE: join(dir, `shadow-${i}.log`) });
      await load(app.port, 500);
      await ask(app.child, 'start');
      await load(app.port, N);
      const r = await ask(app.child, 'stop');
      app.child.kill();
      const per = (us) => (us / N).toFixed(0).padStart(4);
      console.log(`${mode.padEnd(6)} round ${i}: µs of CPU per request — main ${per(r.main)}, engine worker ${per(r.worker)}, other threads ${per(r.rest)}${r.mirrored === null ? '' : `; mirrored ${r.mirrored - 500} of ${N}`}`);
      rounds.push({ mode, ...r });
    }
  }
  shadow.child.kill();
  const mean = (mode, key) => rounds.filter((r) => r.mode === mode).reduce((sum, r) => sum + r[key], 0) / 2 / N;
  const extra = (key) => (mean('mirror', key) - mean('plain', key)).toFixed(0);
  console.log(`extra per request with the middleware: main +${extra('main')} µs, engine worker +${extra('worker')} µs, other threads (GC, compiler, threadpool) +${extra('rest')} µs`);
}
