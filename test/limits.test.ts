/**
 * Bounded work: at most maxConcurrent calls in flight and maxQueue waiting, bodies counted against maxQueuedBytes while
 * they upload, long-lived streams kept from taking the byte budget, and a queue wait that stays inside the reader's
 * join window. Shadows that must hold calls in flight are released by the test.
 */
import { writeFile } from 'node:fs/promises';
import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { readShadowLog, type ShadowLogEntry } from '../lib/report/index.js';
import { resolveOptions } from '../lib/engine/config.js';
import type { ShadowMiddleware } from '../lib/index.js';
import {
  byteCountingHandler, deferred, memoryLog, readRecords, recordsOfType, sendRaw, startBlackHoleServer,
  startHeldShadowServer, startRawUpload, startShadowServer, tempLogFile, testScope, until
} from './helpers.js';

const { cleanups, closeLater, mirror, startApp, cleanUp } = testScope({ failOnUnhandledRejections: true });
afterEach(cleanUp);

/** Requests mirrored or shed so far (shed ones get no record of their own). */
function handedOffOrShed(shadow: ShadowMiddleware): number {
  const stats = shadow.stats();
  return stats.mirrored + (stats.skipped.queue_full ?? 0);
}

describe('bounded work', () => {
  it('keeps at most maxConcurrent calls in flight and sends the queued ones in arrival order', async () => {
    const held = closeLater(await startHeldShadowServer());
    const log = memoryLog();
    const shadow = mirror({ target: held.url, logger: log.logger, maxConcurrent: 2 });
    const app = await startApp(shadow);
    for (let i = 0; i < 5; i++) {
      expect((await sendRaw(app.url, { method: 'GET', path: `/p?i=${i}` })).status).toBe(200);
      await log.waitFor('production', i + 1);
    }
    const firstTwo = await held.waitFor(2);
    expect(firstTwo.map((r) => r.url).sort()).toEqual(['/p?i=0', '/p?i=1']);
    expect(shadow.stats()).toMatchObject({ mirrored: 5, inFlight: 2, queued: 3 });

    held.releaseOne();
    expect((await held.waitFor(3))[2]!.url).toBe('/p?i=2');
    held.releaseOne();
    expect((await held.waitFor(4))[3]!.url).toBe('/p?i=3');
    held.releaseAll();
    expect((await held.waitFor(5))[4]!.url).toBe('/p?i=4');
    await log.waitFor('shadow', 5);
    expect(shadow.stats()).toMatchObject({ inFlight: 0, queued: 0, queuedBytes: 0, succeeded: 5 });
  });

  it('sheds requests past maxQueue as queue_full: counted in stats and in the summary with sample ids, no record each, while production answers all of them', async () => {
    const held = closeLater(await startHeldShadowServer());
    const log = memoryLog();
    const shadow = mirror({ target: held.url, logger: log.logger, maxConcurrent: 1, maxQueue: 2 });
    const app = await startApp(shadow);
    for (let i = 0; i < 5; i++) {
      const response = await sendRaw(app.url, { method: 'GET', path: `/p?i=${i}` });
      expect(response.status).toBe(200);
      expect(JSON.parse(response.body.toString())).toEqual({ label: 'positive', model: 'production' });
      await until(() => handedOffOrShed(shadow) === i + 1);
    }
    expect(shadow.stats()).toMatchObject({ seen: 5, mirrored: 3, inFlight: 1, queued: 2, skipped: { queue_full: 2 } });

    held.releaseAll();
    await shadow.close();
    expect(held.received.map((r) => r.url)).toEqual(['/p?i=0', '/p?i=1', '/p?i=2']);
    expect(recordsOfType(log.records, 'skipped')).toEqual([]);
    const [summary] = recordsOfType(log.records, 'summary');
    expect(summary!.shed).toEqual({ queue_full: 2, sampleRequestIds: [expect.any(String), expect.any(String)] });
    const mirroredIds = new Set(recordsOfType(log.records, 'production').map((r) => r.requestId));
    expect(summary!.shed!.sampleRequestIds.some((id) => mirroredIds.has(id))).toBe(false);
  });

  it('counts bodies still being uploaded against maxQueuedBytes and skips a request that would go over', async () => {
    const shadowServer = closeLater(await startShadowServer());
    const log = memoryLog();
    const shadow = mirror({ target: shadowServer.url, logger: log.logger, maxQueuedBytes: 1000 });
    const upload = byteCountingHandler();
    const app = await startApp(shadow, upload.handler);

    const slow = await startRawUpload(app.port, '/slow', 800, 600);
    await upload.waitForBytes('/slow', 600);
    expect(shadow.stats().queuedBytes).toBe(600);

    const small = await sendRaw(app.url, { path: '/small', headers: { 'content-type': 'application/octet-stream' }, body: Buffer.alloc(500, 0x62) });
    expect(small.body.toString()).toBe('500');
    await until(() => shadow.stats().skipped.queue_full === 1);

    await slow.write(Buffer.alloc(200, 0x61));
    expect((await slow.response).toString()).toMatch(/^HTTP\/1\.1 200 OK[\s\S]*\r\n\r\n800$/);
    const [received] = await shadowServer.waitFor(1);
    expect(received!.url).toBe('/slow');
    expect(received!.body.equals(Buffer.alloc(800, 0x61))).toBe(true);
    await log.waitFor('shadow');
    expect(shadow.stats()).toMatchObject({ mirrored: 1, skipped: { queue_full: 1 }, queuedBytes: 0 });
  });

  it('holds at most maxConcurrent + maxQueue requests while the shadow black-holes traffic', async () => {
    const blackHole = closeLater(await startBlackHoleServer());
    const log = memoryLog();
    const shadow = mirror({ target: blackHole.url, logger: log.logger, maxConcurrent: 2, maxQueue: 3, timeoutMs: 60_000 });
    const app = await startApp(shadow);
    const body = Buffer.alloc(100, 0x63);
    const responses = await Promise.all(Array.from({ length: 20 }, (_, i) => sendRaw(app.url, { path: `/p?i=${i}`, body })));
    expect(responses.every((r) => r.status === 200)).toBe(true);
    await until(() => handedOffOrShed(shadow) === 20);
    await blackHole.waitForConnections(2);

    const stats = shadow.stats();
    expect(stats).toMatchObject({ seen: 20, mirrored: 5, inFlight: 2, queued: 3, skipped: { queue_full: 15 } });
    // Five held bodies of 100 bytes, plus the small production answers kept for comparison.
    expect(stats.queuedBytes).toBeGreaterThanOrEqual(500);
    expect(stats.queuedBytes).toBeLessThan(5 * 200);
    expect(recordsOfType(log.records, 'skipped')).toHaveLength(0);
    expect(blackHole.connections).toBe(2);
  });

  it('leaves no listener behind a finished call: two waves of 40 calls through 32 slots raise no MaxListenersExceededWarning', async () => {
    const warnings: Error[] = [];
    const onWarning = (warning: Error) => warnings.push(warning);
    process.on('warning', onWarning);
    cleanups.push(() => process.off('warning', onWarning));
    const held = closeLater(await startHeldShadowServer());
    const log = memoryLog();
    const shadow = mirror({ target: held.url, logger: log.logger });
    const app = await startApp(shadow);

    for (const wave of [1, 2]) {
      await Promise.all(Array.from({ length: 40 }, (_, i) => sendRaw(app.url, { method: 'GET', path: `/p?wave=${wave}&i=${i}` })));
      await held.waitFor(32 + (wave - 1) * 40);
      expect(shadow.stats()).toMatchObject({ inFlight: 32, queued: 8 });
      held.releaseAll();
      await log.waitFor('shadow', wave * 40);
      held.hold();
    }
    expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning')).toEqual([]);
  });
});

describe('long-lived streams cannot take the byte budget', () => {
  it('65 open SSE responses leave room: another request is mirrored meanwhile, and the SSE records are marked truncated', async () => {
    const shadowServer = closeLater(await startShadowServer());
    const log = memoryLog();
    const shadow = mirror({ target: shadowServer.url, logger: log.logger, maxQueuedBytes: 8 * 1_048_576, maxShadowResponseBytes: 1_048_576, compare: false });
    const release = deferred();
    const eventBytes = 64 * 1024;
    const app = await startApp(shadow, (req, res) => {
      if (req.path !== '/sse') return void res.json({ label: 'positive' });
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      for (let i = 0; i < 4; i++) res.write(`data: ${'x'.repeat(eventBytes - 8)}\n\n`);
      void release.promise.then(() => res.end());
    });
    const streams = Array.from({ length: 65 }, () => {
      const received = deferred();
      const done = deferred();
      const request = http.get(`${app.url}/sse`, { agent: false }, (res) => {
        let bytes = 0;
        res.on('data', (chunk: Buffer) => {
          bytes += chunk.length;
          if (bytes >= 4 * eventBytes) received.resolve();
        });
        res.on('end', () => done.resolve());
      });
      request.on('error', () => {});
      return { received: received.promise, done: done.promise };
    });
    cleanups.push(() => release.resolve());
    await Promise.all(streams.map((s) => s.received));
    await sendRaw(app.url, { path: '/predict', body: '{"text":"hi"}', headers: { 'content-type': 'application/json' } });
    const [mirrored] = await shadowServer.waitFor(1);
    expect(mirrored!.url).toBe('/predict');
    release.resolve();
    await Promise.all(streams.map((s) => s.done));
    await shadow.whenIdle();
    const sse = recordsOfType(log.records, 'production').filter((r) => r.path === '/sse');
    expect(sse).toHaveLength(65);
    expect(sse.every((r) => r.response.truncated === true)).toBe(true);
    expect(shadow.stats().skipped).toEqual({});
  });
});

describe('queue wait and the reader join window agree', () => {
  it('with the default options a shadow record comes within the reader default join window', async () => {
    const defaults = resolveOptions({ target: 'http://127.0.0.1:1' });
    // The latest a shadow record can come: a full queue wait, then a call that runs into the watchdog.
    const latestMs = defaults.maxQueueWaitMs + defaults.timeoutMs + 1000;
    const at = (ms: number) => new Date(Date.UTC(2026, 0, 1) + ms).toISOString();
    const file = await tempLogFile();
    const lines = [
      { type: 'production', requestId: 'late', timestamp: at(0), method: 'POST', path: '/p', route: null, status: 200, durationMs: 1, targets: ['shadow'], request: { headers: {} }, response: { headers: {} } },
      { type: 'production', requestId: 'other', timestamp: at(latestMs - 1), method: 'POST', path: '/p', route: null, status: 200, durationMs: 1, targets: ['shadow'], request: { headers: {} }, response: { headers: {} } },
      { type: 'shadow', requestId: 'late', timestamp: at(latestMs), target: 'shadow', durationMs: 1, error: { code: 'timeout', message: 'watchdog' } },
      { type: 'shadow', requestId: 'other', timestamp: at(latestMs), target: 'shadow', durationMs: 1, status: 200, response: { headers: {} } },
    ];
    await writeFile(file, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
    const entries: ShadowLogEntry[] = [];
    for await (const entry of readShadowLog(file)) entries.push(entry);
    expect(entries.map((e) => [e.requestId, e.orphan])).toEqual(expect.arrayContaining([['late', null], ['other', null]]));
  });

  it('a request queued behind a black-holed shadow gets its queue_timeout or timeout record, and the reader joins every pair', async () => {
    const hole = closeLater(await startBlackHoleServer());
    const logFile = await tempLogFile();
    const shadow = mirror({ target: hole.url, logFile, engine: 'worker', maxConcurrent: 1, timeoutMs: 300, maxQueueWaitMs: 50, compare: false });
    const app = await startApp(shadow);
    for (let i = 0; i < 4; i++) await sendRaw(app.url, { method: 'GET', path: `/q${i}` });
    await shadow.whenIdle();
    const records = await readRecords(logFile);
    const codes = recordsOfType(records, 'shadow').map((r) => r.error?.code);
    expect(codes).toHaveLength(4);
    expect(codes.every((code) => code === 'timeout' || code === 'queue_timeout')).toBe(true);
    expect(codes).toContain('queue_timeout');
    const entries: ShadowLogEntry[] = [];
    for await (const entry of readShadowLog(logFile)) entries.push(entry);
    expect(entries).toHaveLength(4);
    expect(entries.map((e) => e.orphan)).toEqual([null, null, null, null]);
  });
});
