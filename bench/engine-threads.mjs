// Where the mirroring CPU goes, by thread: the app's main thread, the engine's worker thread, and the rest (V8's
// platform threads, which do most of garbage collection and compilation, and libuv's threadpool). The load of
// engine-cost.mjs (saturation-kit.mjs: a closed loop of 16 clients, ~1 KB JSON, fast loopback shadow), plain app and
// app with the middleware interleaved A B A B. Per-thread CPU is the kernel's (/proc/self/task/<tid>/schedstat): time
// on CPU only. Run from a built checkout: `node bench/engine-threads.mjs` (REQUESTS, default 4000; at 20000 the
// worker's JIT warm-up weighs less).
import http from 'node:http';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ask, forkRole, load, startPredictApp, threadCpu } from './saturation-kit.mjs';

const role = process.argv[2];

if (role === 'shadow') {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{"label":"positive","score":0.91}'));
  });
  server.keepAliveTimeout = 60000;
  server.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }));
} else if (role === 'app') {
  const before = new Set(threadCpu().keys());
  const mw = await startPredictApp(process.cwd());
  let start;
  process.on('message', async (m) => {
    if (m === 'start') {
      start = threadCpu();
      process.send({ started: true });
      return;
    }
    const end = threadCpu();
    const used = (tid) => ((end.get(tid) ?? 0) - (start.get(tid) ?? 0)) / 1000;
    // The engine's worker: the busiest thread that was not there before the middleware was made.
    const fresh = [...end.keys()].filter((tid) => !before.has(tid) && tid !== process.pid).sort((a, b) => used(b) - used(a));
    const all = [...end.keys()].reduce((sum, tid) => sum + used(tid), 0);
    const main = used(process.pid);
    const worker = mw && fresh.length > 0 ? used(fresh[0]) : 0;
    if (mw) await mw.close({ timeoutMs: 10000 });
    process.send({ main, worker, rest: all - main - worker, mirrored: mw ? mw.stats().mirrored : null });
  });
} else {
  const dir = mkdtempSync(join(tmpdir(), 'engine-threads-'));
  const N = Number(process.env.REQUESTS ?? 4000);
  const script = import.meta.url;
  const shadow = await forkRole(script, ['shadow'], {});
  const rounds = [];
  for (let i = 0; i < 2; i++) {
    for (const mode of ['plain', 'mirror']) {
      const app = await forkRole(script, ['app'], { MODE: mode, TARGET: `http://127.0.0.1:${shadow.port}`, LOG_FILE: join(dir, `shadow-${i}.log`) });
      await load(app.port, 500);
      await ask(app.child, 'start');
      await load(app.port, N);
      const r = await ask(app.child, 'stop');
      app.child.kill();
      const per = (us) => (us / N).toFixed(0).padStart(4);
      console.log(`${mode.padEnd(6)} round ${i}: µs of CPU per request — main ${per(r.main)}, engine worker ${per(r.worker)}, other threads ${per(r.rest)}${r.mirrored === null ? '' : `; mirrored ${r.mirrored} (500 of them in the warm-up)`}`);
      rounds.push({ mode, ...r });
    }
  }
  shadow.child.kill();
  const mean = (mode, key) => rounds.filter((r) => r.mode === mode).reduce((sum, r) => sum + r[key], 0) / 2 / N;
  const extra = (key) => (mean('mirror', key) - mean('plain', key)).toFixed(0);
  console.log(`extra per request with the middleware: main +${extra('main')} µs, engine worker +${extra('worker')} µs, other threads (GC, compiler, threadpool) +${extra('rest')} µs`);
}
