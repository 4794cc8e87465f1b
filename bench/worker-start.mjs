// What starting the engine costs: from the middleware's construction to its first mirrored request, the CPU of the
// threads that were not there before it (the engine's worker) and of the process's other threads (V8's compiler and
// collector helpers, libuv's pool), and the wall time. One POST to a loopback shadow, in a process of its own per
// start. Run from a built checkout: `node bench/worker-start.mjs` (STARTS, default 4). EXPRESS_SHADOW_WORKER=<file>
// starts another worker file (an A/B of two builds of it).
import { fork } from 'node:child_process';
import http from 'node:http';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { tmpdir } from 'node:os';
import { threadCpu } from './saturation-kit.mjs';

if (process.argv[2] === 'start') {
  const root = process.cwd();
  const express = createRequire(join(root, 'package.json'))('express');
  const { shadowMiddleware } = await import(resolve(root, 'dist/index.js'));
  const shadow = http.createServer((req, res) => req.resume().on('end', () => res.end('{"label":"positive"}')));
  await new Promise((done) => shadow.listen(0, '127.0.0.1', done));
  const before = threadCpu();
  const started = performance.now();
  const target = `http://127.0.0.1:${shadow.address().port}`;
  const mw = shadowMiddleware({ target, logFile: join(tmpdir(), `worker-start-${process.pid}.log`), summaryIntervalMs: 0 });
  const app = express().use(mw).use(express.json()).post('/predict', (req, res) => res.json({ label: 'positive' }));
  const server = app.listen(0, '127.0.0.1');
  await new Promise((done) => server.once('listening', done));
  await fetch(`http://127.0.0.1:${server.address().port}/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"text":"x"}' });
  while (mw.stats().mirrored < 1) await new Promise((done) => setTimeout(done, 1));
  const wallMs = performance.now() - started;
  const after = threadCpu();
  let worker = 0;
  let others = 0;
  for (const [tid, ns] of after) {
    if (!before.has(tid)) worker += ns;
    else if (tid !== process.pid) others += ns - before.get(tid);
  }
  await mw.close();
  server.close();
  shadow.close();
  process.send({ workerMs: worker / 1e6, othersMs: others / 1e6, wallMs });
} else {
  const starts = Number(process.env.STARTS ?? 4);
  for (let i = 0; i < starts; i++) {
    const child = fork(new URL(import.meta.url).pathname, ['start'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const [r] = await Promise.all([new Promise((done) => child.once('message', done)), new Promise((done) => child.once('exit', done))]);
    console.log(`start ${i + 1}: the engine's worker ${r.workerMs.toFixed(0)} ms of CPU, other threads ${r.othersMs.toFixed(0)} ms, first request mirrored after ${r.wallMs.toFixed(0)} ms`);
  }
}
