// Memory with a shadow that accepts connections and never answers (a black hole), the app at saturation: the load of
// the engine benchmarks (saturation-kit.mjs: a closed loop of 16 clients, ~1 KB JSON) for DURATION_MS (default 6000),
// then close() with its default timeout. Prints the app's RSS when the load starts, its peak until close() has
// returned (sampled every 50 ms, on the app's thread), the growth between the two (issue 20's bound: 64 MiB), and
// what stats() says happened (mirrored, shed). Run from a built checkout: `node bench/black-hole.mjs`.
import net from 'node:net';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ask, forkRole, load, startPredictApp } from './saturation-kit.mjs';

const role = process.argv[2];
const MiB = 2 ** 20;

if (role === 'black-hole') {
  // Accepts and reads, never writes; keeps every socket.
  const sockets = new Set();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.resume();
  });
  server.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }));
} else if (role === 'app') {
  const mw = await startPredictApp(process.cwd());
  let peak = 0;
  let sampling;
  process.on('message', async (m) => {
    if (m === 'start') {
      const atStart = process.memoryUsage().rss;
      peak = atStart;
      sampling = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 50);
      process.send({ atStart });
    } else if (m === 'stop') {
      const closing = performance.now();
      await mw.close();
      const closeMs = performance.now() - closing;
      clearInterval(sampling);
      peak = Math.max(peak, process.memoryUsage().rss);
      const s = mw.stats();
      process.send({ peak, closeMs, seen: s.seen, mirrored: s.mirrored, shed: s.skipped?.queue_full ?? 0 });
    }
  });
} else {
  const dir = mkdtempSync(join(tmpdir(), 'black-hole-'));
  const durationMs = Number(process.env.DURATION_MS ?? 6000);
  const hole = await forkRole(import.meta.url, ['black-hole'], {});
  const app = await forkRole(import.meta.url, ['app'], { MODE: 'mirror', TARGET: `http://127.0.0.1:${hole.port}`, LOG_FILE: join(dir, 'shadow.log') });
  await load(app.port, 500); // warm-up, the shadow already a black hole
  const { atStart } = await ask(app.child, 'start');
  const until = performance.now() + durationMs;
  let requests = 0;
  while (performance.now() < until) {
    await load(app.port, 200);
    requests += 200;
  }
  const end = await ask(app.child, 'stop');
  app.child.kill();
  hole.child.kill();
  const growth = (end.peak - atStart) / MiB;
  console.log(JSON.stringify({ requests, ...end, peak: undefined }));
  console.log(
    `black-holed shadow, ${durationMs / 1000} s at saturation and close(): RSS ${(atStart / MiB).toFixed(0)} MiB at the start, peak ${(end.peak / MiB).toFixed(0)} MiB, growth +${growth.toFixed(0)} MiB (goal ≤ 64); close() took ${end.closeMs.toFixed(0)} ms; mirrored ${end.mirrored} of ${end.seen} seen, ${end.shed} shed`,
  );
}
