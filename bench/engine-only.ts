/**
 * The engine alone, in this thread, fed the exchanges a tap would hand it (a ~1 KB JSON POST and its JSON answer),
 * with a loopback shadow in a child process: CPU of this process per exchange (production, shadow and comparison
 * records written to a file). Isolates the engine's own cost from the app and the tap. Run:
 * `npx tsx bench/engine-only.ts` (REQUESTS, default 20000).
 */
import { startLoopbackShadow } from './loopback-shadow.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const { EngineHost } = await import('../lib/engine/host.js');
const { resolveOptions } = await import('../lib/engine/config.js');
const { port, child } = await startLoopbackShadow();
const dir = mkdtempSync(join(tmpdir(), 'engine-only-'));
const config = resolveOptions({ target: `http://127.0.0.1:${port}`, logFile: join(dir, 'shadow.log'), summaryIntervalMs: 0 });
const N = Number(process.env.REQUESTS ?? 20_000);
const IN_FLIGHT = 32;
let done = 0;
let sent = 0;
/** The phase under way (warm-up, then the measured run) ends once `phaseEnd` exchanges have settled. */
let phaseEnd = 0;
let finished = (): void => {};
/** Keeps IN_FLIGHT exchanges in the engine, as a closed loop of clients would, until `count` more have settled. */
function phase(count: number): Promise<void> {
  phaseEnd = done + count;
  const ended = new Promise<void>((resolve) => (finished = resolve));
  for (let i = 0; i < IN_FLIGHT; i++) send();
  return ended;
}
const host = new EngineHost((feedback: { items: { settled: number }[] }) => {
  for (const item of feedback.items) for (let i = 0; i < item.settled; i++) settled();
});
const body = Buffer.from(JSON.stringify({ text: 'x'.repeat(900) }));
const answer = Buffer.from('{"label":"positive","score":0.9,"n":900}');
const send = (): void => {
  sent++;
  void host.call(0, 'accept', [{
    requestId: undefined,
    method: 'POST',
    path: '/predict',
    headers: { host: '127.0.0.1:3000', connection: 'keep-alive', 'content-type': 'application/json', 'content-length': String(body.length) },
    route: '/predict',
    body: new Uint8Array(body),
    bodySource: 'raw',
    status: 200,
    responseHeaders: { 'x-powered-by': 'Express', 'content-type': 'application/json; charset=utf-8', 'content-length': String(answer.length), etag: 'W/"28-x"' },
    response: { chunks: [new Uint8Array(answer)], bytes: answer.length, truncated: false, ttfbMs: 0.4, writes: 1 },
    durationMs: 1.1,
    targets: config.targets.map((t: { name: string }) => t.name),
    heldBytes: body.length + answer.length,
    handedOffAt: Date.now(),
  }]);
};
function settled(): void {
  done++;
  if (sent < phaseEnd) send();
  else if (done === phaseEnd) finished();
}
await host.register(0, config, false, true);
// Warm-up with the same number in flight: sending it all at once would keep hundreds of exchanges waiting in the
// engine, whose objects then outlive the young generation as they never do under a closed loop.
await phase(500);
const cpu0 = process.cpuUsage();
const t0 = performance.now();
await phase(N);
const cpu = process.cpuUsage(cpu0);
const n = N;
const stats = host.stats(0);
console.log(`engine alone: ${((cpu.user + cpu.system) / n).toFixed(0)} µs CPU per exchange, ${Math.round((n / (performance.now() - t0)) * 1000)}/s, mirrored ${stats?.mirrored}, written ${stats?.log?.written}`);
await host.call(0, 'close', [10_000, { seen: 0, notMirrored: {}, breakerOpen: {}, shed: 0, shedSample: [] }]);
child.kill();
rmSync(dir, { recursive: true, force: true });
