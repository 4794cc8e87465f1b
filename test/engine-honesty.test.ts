/**
 * The engine measures honestly: each shadow record says how late the engine was when it read the answer, and an
 * engine that stays behind sheds new requests instead of building a backlog that would distort every latency.
 */
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import type { ShadowOptions } from '../lib/index.js';
import { readRecords, recordsOfType, sendRaw, tempLogFile, testScope } from './helpers.js';

const hooks = fileURLToPath(new URL('./fixtures/engine/hooks.mjs', import.meta.url));
const { cleanUp, closeLater, mirror, startApp } = testScope();
afterEach(cleanUp);

async function shadowAnswering(answer: (path: string) => { busyMs: number; delayMs: number }) {
  const { startShadowServer } = await import('./helpers.js');
  return closeLater(
    await startShadowServer((req, res) => {
      const { busyMs, delayMs } = answer(req.url ?? '/');
      setTimeout(() => res.end(JSON.stringify({ label: 'positive', busyMs })), delayMs);
    }),
  );
}

describe('engineDelayMs', () => {
  it('is large on an answer read while the engine was busy, so a slow model can be told from a busy engine', async () => {
    // /a's answer makes the worker busy for 300 ms (a transformResponse hook); /b's answer arrives meanwhile.
    const shadowServer = await shadowAnswering((path) => (path === '/a' ? { busyMs: 300, delayMs: 0 } : { busyMs: 0, delayMs: 30 }));
    const logFile = await tempLogFile();
    const shadow = mirror({ target: shadowServer.url, logFile, transformResponse: { module: hooks, export: 'busy' } } as ShadowOptions);
    const app = await startApp(shadow);
    await sendRaw(app.url, { method: 'GET', path: '/a' });
    await sendRaw(app.url, { method: 'GET', path: '/b' });
    await shadowServer.waitFor(2);
    await shadow.close();
    const records = await readRecords(logFile);
    const paths = new Map(recordsOfType(records, 'production').map((r) => [r.requestId, r.path]));
    const byPath = Object.fromEntries(recordsOfType(records, 'shadow').map((r) => [paths.get(r.requestId), r]));
    expect(byPath['/b']!.engineDelayMs).toBeGreaterThan(100);
    // The engine's delay is part of the duration it measured, never more.
    expect(byPath['/b']!.engineDelayMs).toBeLessThanOrEqual(byPath['/b']!.durationMs);
    expect(typeof byPath['/a']!.engineDelayMs).toBe('number');
  });
});

describe('durationMs', () => {
  it('counts from the request\'s sending: a wait in the engine before the write is not the shadow\'s', async () => {
    // Target a is dispatched first; preparing b's call then keeps the engine's thread busy for 300 ms (its
    // transformRequest hook) before undici has written a's request. a answers at once.
    const shadowServer = await shadowAnswering(() => ({ busyMs: 0, delayMs: 0 }));
    const logFile = await tempLogFile();
    const shadow = mirror({
      targets: [
        { name: 'a', url: shadowServer.url },
        { name: 'b', url: shadowServer.url, transformRequest: { module: hooks, export: 'busyRequest' } },
      ],
      logFile,
    } as ShadowOptions);
    const app = await startApp(shadow);
    await sendRaw(app.url, { method: 'GET', path: '/a' });
    await shadowServer.waitFor(2);
    await shadow.close();
    const shadows = recordsOfType(await readRecords(logFile), 'shadow');
    const a = shadows.find((r) => r.target === 'a')!;
    expect(shadows.find((r) => r.target === 'b')!.status).toBe(200);
    expect(a.status).toBe(200);
    // Timed from the dispatch, a's duration would hold b's 300 ms of preparation.
    expect(a.durationMs).toBeLessThan(250);
  });
});

describe('the engine\'s lag (what the tap sheds by)', () => {
  // Probes driven by hand: at each time (ms), how far behind the engine was.
  async function monitor() {
    const { LagMonitor } = await import('../lib/engine/lag-monitor.js');
    const lag = new LagMonitor();
    for (let t = 0; t <= 1000; t += 5) lag.record(t, 0);
    return lag;
  }

  it('is a backlog sustained for a second, and ends as soon as the engine has caught up, not a second later', async () => {
    const lag = await monitor();
    expect(lag.lagMs).toBe(0);
    for (let t = 1005; t <= 2000; t += 5) lag.record(t, 40);
    expect(lag.lagMs).toBeGreaterThan(5);
    // On time again: the second's mean is still about 40 ms, but shedding must stop now.
    lag.record(2005, 0);
    expect(lag.lagMs).toBe(0);
  });

  it('is not one late probe (a collector\'s pause, a burst)', async () => {
    const lag = await monitor();
    lag.record(1005, 60);
    expect(lag.lagMs).toBeLessThan(1);
  });
});

describe('admission by the engine\'s lag', () => {
  /** Every answer keeps the worker busy `busyMs` (a transformResponse hook): far slower than requests arrive. */
  async function busyEngine(busyMs: number, extra: Partial<ShadowOptions>) {
    const shadowServer = await shadowAnswering(() => ({ busyMs, delayMs: 0 }));
    const logFile = await tempLogFile();
    const shadow = mirror({ target: shadowServer.url, logFile, transformResponse: { module: hooks, export: 'busy' }, ...extra } as ShadowOptions);
    // Production takes 10 ms a request, so the load is spread over time as real traffic is.
    const app = await startApp(shadow, (_req, res) => void setTimeout(() => res.json({ label: 'positive' }), 10));
    return { shadow, app, logFile };
  }

  it('sheds new requests (counted, production untouched) once the engine has stayed behind with a backlog', async () => {
    const { shadow, app, logFile } = await busyEngine(25, {});
    let sent = 0;
    while ((shadow.stats().skipped.queue_full ?? 0) === 0 && sent < 4000) {
      const statuses = await Promise.all(Array.from({ length: 16 }, (_, i) => sendRaw(app.url, { method: 'GET', path: `/r${sent + i}` }).then((r) => r.status)));
      expect(statuses.every((s) => s === 200)).toBe(true);
      sent += 16;
    }
    const shedAtEntry = shadow.stats().skipped.queue_full ?? 0;
    expect(shedAtEntry).toBeGreaterThan(0);
    // Time enough for the busy engine to write its last summary (with the shed count) whatever the machine's load.
    await shadow.close({ timeoutMs: 30_000 });
    const stats = shadow.stats();
    const summaries = recordsOfType(await readRecords(logFile), 'summary');
    expect(summaries.reduce((sum, s) => sum + (s.shed?.queue_full ?? 0), 0)).toBe(stats.skipped.queue_full);
    expect(stats.seen).toBe(sent);
  });

  it('with a bound the engine never reaches, mirrors every request of a burst', async () => {
    const { shadow, app } = await busyEngine(10, { maxEngineLagMs: 600_000 });
    for (let wave = 0; wave < 4; wave++) await Promise.all(Array.from({ length: 64 }, (_, i) => sendRaw(app.url, { method: 'GET', path: `/w${wave}/${i}` })));
    await shadow.close({ timeoutMs: 60_000 });
    expect(shadow.stats().skipped.queue_full ?? 0).toBe(0);
    expect(shadow.stats().mirrored).toBe(256);
  });

  it('rejects a bad maxEngineLagMs or hookTimeoutMs with an error naming it', async () => {
    const { shadowMiddleware } = await import('../lib/index.js');
    expect(() => shadowMiddleware({ target: 'http://127.0.0.1:9', maxEngineLagMs: -1 })).toThrow(/maxEngineLagMs/);
    expect(() => shadowMiddleware({ target: 'http://127.0.0.1:9', hookTimeoutMs: 'soon' as never })).toThrow(/hookTimeoutMs/);
  });
});
