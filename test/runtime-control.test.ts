/**
 * Runtime control and introspection: update() without a restart, and what stats() counts (requests, outcomes, breaker
 * state, latency percentiles over a window of recent calls).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ShadowOptionsError } from '../lib/index.js';
import {
  allAnswered, clockReaches, deferred, memoryLog, recordsOfType, refusedUrl, sendMany, sendRaw, startShadowServer,
  testScope,
} from './helpers.js';

const { cleanups, closeLater, mirror, startApp, cleanUp } = testScope({ failOnUnhandledRejections: true });
afterEach(cleanUp);

describe('runtime control and introspection', () => {
  it('update({ enabled }) and update({ sampleRate }) take effect on the next request, without a restart', async () => {
    const shadowServer = closeLater(await startShadowServer());
    const log = memoryLog();
    const shadow = mirror({ target: shadowServer.url, logger: log.logger });
    const app = await startApp(shadow);
    const get = (path: string) => sendRaw(app.url, { method: 'GET', path });

    await get('/1');
    shadow.update({ enabled: false });
    expect(shadow.stats().enabled).toBe(false);
    await get('/2');
    shadow.update({ enabled: true });
    await get('/3');
    shadow.update({ sampleRate: 0 });
    expect(shadow.stats().sampleRate).toBe(0);
    await get('/4');
    shadow.update({ sampleRate: 1 });
    await get('/5');
    await log.waitFor('shadow', 3);
    expect(shadowServer.received.map((r) => r.url)).toEqual(['/1', '/3', '/5']);
    expect(shadow.stats()).toMatchObject({ enabled: true, sampleRate: 1, seen: 5, mirrored: 3, notMirrored: { disabled: 1, sampled_out: 1 } });
  });

  it('update() rejects bad values and keys it cannot change, and changes nothing then', () => {
    const shadow = mirror({ target: 'http://127.0.0.1:9', logFile: '/dev/null', sampleRate: 0.5 });
    expect(() => shadow.update({ sampleRate: 1.5 })).toThrow(ShadowOptionsError);
    expect(() => shadow.update({ enabled: false, sampleRate: -1 })).toThrow(/sampleRate/);
    expect(() => shadow.update({ enabled: 'no' as unknown as boolean })).toThrow(/enabled/);
    expect(() => shadow.update({ timeoutMs: 1 } as never)).toThrow(/timeoutMs/);
    expect(shadow.stats()).toMatchObject({ enabled: true, sampleRate: 0.5 });
  });

  it('stats() counts seen, mirrored, left out, skipped, succeeded and failed, and gives breaker state and latency percentiles', async () => {
    // The slow call is held until every other call is recorded, and then longer than the longest of them took: it is
    // the slowest however slow the machine, so the percentiles below must tell it apart.
    const othersRecorded = deferred<number>();
    const shadowServer = closeLater(
      await startShadowServer((req, res) => {
        if (req.url === '/error') {
          res.statusCode = 503;
          res.end();
        } else if (req.url === '/slow') {
          const arrived = Date.now();
          void othersRecorded.promise.then(async (longestMs) => {
            await clockReaches(arrived + Math.ceil(longestMs) + 5);
            res.end('{}');
          });
        } else res.end('{}');
      }),
    );
    const log = memoryLog();
    const shadow = mirror({ target: shadowServer.url, name: 'candidate', logger: log.logger, methods: ['GET', 'POST'], maxBodyBytes: 10 });
    const app = await startApp(shadow);
    for (let i = 0; i < 8; i++) await sendRaw(app.url, { method: 'GET', path: '/ok' });
    await sendRaw(app.url, { method: 'GET', path: '/slow' });
    await sendRaw(app.url, { method: 'GET', path: '/error' });
    await sendRaw(app.url, { method: 'DELETE', path: '/ok' });
    await sendRaw(app.url, { method: 'POST', path: '/big', body: 'eleven bytes' });
    const others = await log.waitFor('shadow', 9);
    const longest = Math.max(...others.map((r) => r.durationMs));
    othersRecorded.resolve(longest);
    await log.waitFor('shadow', 10);
    await log.waitFor('skipped');

    const stats = shadow.stats();
    expect(stats).toMatchObject({
      enabled: true,
      sampleRate: 1,
      seen: 12,
      mirrored: 10,
      notMirrored: { method: 1 },
      skipped: { body_too_large: 1 },
      succeeded: 9,
      failed: { status_5xx: 1 },
      inFlight: 0,
      queued: 0,
      queuedBytes: 0,
      breakers: { candidate: 'closed' },
    });
    const { count, p50, p90, p99 } = stats.latencyMs;
    expect(count).toBe(10);
    // Nearest rank over ten calls: p99 is the slowest (the held one), p50 is one of the others.
    expect(p99).toBeGreaterThan(longest);
    expect(p50).toBeLessThanOrEqual(longest);
    expect(p50!).toBeLessThanOrEqual(p90!);
    expect(p90!).toBeLessThanOrEqual(p99!);
  });

  it('latency percentiles cover the most recent 1024 calls only: slow calls age out of the window', async () => {
    const timers = new Set<NodeJS.Timeout>();
    cleanups.push(() => timers.forEach(clearTimeout));
    const shadowServer = closeLater(
      await startShadowServer((req, res) => {
        // Slow enough that a fast call on a loaded machine (seen at 1.2 s among 1024 calls) stays well below it.
        if (req.url === '/slow') timers.add(setTimeout(() => res.end('{}'), 3000));
        else res.end('{}');
      }),
    );
    const log = memoryLog();
    const shadow = mirror({ target: shadowServer.url, logger: log.logger, compare: false });
    const app = await startApp(shadow);
    await sendMany(app.url, 20, () => ({ path: '/slow' }));
    await allAnswered(shadow, log);
    const before = shadow.stats().latencyMs;
    expect(before).toMatchObject({ count: 20 });
    expect(before.p50).toBeGreaterThanOrEqual(3000);

    await sendMany(app.url, 1024, () => ({ path: '/fast' }));
    await allAnswered(shadow, log);
    const { count, p99 } = shadow.stats().latencyMs;
    expect(count).toBe(1024);
    expect(p99).toBeLessThan(before.p50!);
  });

  it('stats() counts shadow calls that failed by error code', async () => {
    const log = memoryLog();
    const shadow = mirror({ target: await refusedUrl(), logger: log.logger });
    const app = await startApp(shadow);
    await sendRaw(app.url, { method: 'GET', path: '/a' });
    await sendRaw(app.url, { method: 'GET', path: '/b' });
    await log.waitFor('shadow', 2);
    expect(shadow.stats()).toMatchObject({ mirrored: 2, succeeded: 0, failed: { ECONNREFUSED: 2 } });
    expect(recordsOfType(log.records, 'shadow').map((r) => r.error?.code)).toEqual(['ECONNREFUSED', 'ECONNREFUSED']);
  });
});
