// The app's RSS at rest: a plain Express app, and the same app with the middleware mounted after one mirrored request
// (so the engine's worker has started and loaded its modules), each in a process of its own. Run from a built
// checkout: `node bench/idle-rss.mjs`.
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import http from 'node:http';
import { join, resolve } from 'node:path';

if (process.argv[2] === 'app') {
  const root = process.cwd();
  const express = createRequire(join(root, 'package.json'))('express');
  const app = express();
  let mw;
  if (process.env.MODE === 'mirror') {
    const { shadowMiddleware } = await import(resolve(root, 'dist/index.js'));
    // Port 9 (discard) on loopback: nothing answers; the call fails, which is all this needs.
    mw = shadowMiddleware({ target: 'http://127.0.0.1:9', logFile: join(process.env.TMPDIR ?? '/tmp', 'idle-rss.log'), summaryIntervalMs: 0 });
    app.use(mw);
  }
  app.post('/p', (req, res) => res.json({ ok: 1 }));
  const server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  await new Promise((res) => {
    const req = http.request({ host: '127.0.0.1', port: server.address().port, path: '/p', method: 'POST', headers: { 'content-type': 'application/json' } }, (r) => r.resume().on('end', res));
    req.end('{}');
  });
  if (mw) await mw.whenIdle();
  console.log((process.memoryUsage().rss / 2 ** 20).toFixed(1));
  await mw?.close({ timeoutMs: 2000 });
  server.close();
} else {
  const rss = (mode) => Number(execFileSync(process.execPath, [new URL(import.meta.url).pathname, 'app'], { env: { ...process.env, MODE: mode } }).toString().trim());
  const plain = rss('plain');
  const mirror = rss('mirror');
  console.log(`idle RSS: plain app ${plain} MiB, with the middleware ${mirror} MiB (+${(mirror - plain).toFixed(1)} MiB)`);
}
