/**
 * A failing shadow never slows or breaks production: slow, refusing, black-holed, redirecting, endless, oversized,
 * compressed-bomb, stalled, resetting and non-HTTP shadows each get a defined record and counter, and a call that
 * never completes frees its slot. Real servers on 127.0.0.1; raw `net` servers for shadows that do not speak HTTP.
 */
import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import type { ShadowOptions } from '../lib/index.js';
import {
  connectRaw, deferred, engines, memoryLog, recordsOfType, refusedUrl, sendRaw, startBlackHoleServer,
  startGarbageServer, startHeldShadowServer, startResettingServer, startShadowServer, startTcpServer, testScope
} from './helpers.js';

const { cleanups, closeLater, mirror, startApp, cleanUp } = testScope({ failOnUnhandledRejections: true });
afterEach(cleanUp);

describe('a failing shadow never slows or breaks production', () => {
  /** Records, in order, when production's answer reached the client and when each shadow record was written. */
  function timeline(log: ReturnType<typeof memoryLog>) {
    const events: string[] = [];
    log.onRecord = (record) => {
      if (record.type === 'shadow') events.push(`shadow record: ${record.error?.code ?? record.status}`);
    };
    return events;
  }

  it('answers production while a 2 s shadow is still working, and records the shadow call as a timeout', async () => {
    const log = memoryLog();
    const events = timeline(log);
    const timers = new Set<NodeJS.Timeout>();
    cleanups.push(() => timers.forEach(clearTimeout));
    const slow = closeLater(
      await startShadowServer((_req, res) => {
        events.push('shadow received');
        const timer = setTimeout(() => {
          events.push('shadow answered');
          res.end('{}');
        }, 2000);
        timers.add(timer);
      }),
    );
    const shadow = mirror({ target: slow.url, logger: log.logger, timeoutMs: 200 });
    const app = await startApp(shadow);
    const response = await sendRaw(app.url, { path: '/predict', body: '{"text":"hi"}', headers: { 'content-type': 'application/json' } });
    events.push('production answered');
    expect(JSON.parse(response.body.toString())).toEqual({ label: 'positive', model: 'production' });
    const [record] = await log.waitFor('shadow');
    expect(record!.error).toMatchObject({ code: 'timeout' });
    // The shadow got the request (when is a race with the client reading production's answer), never answered in time.
    expect(events).toContain('shadow received');
    expect(events.filter((e) => e !== 'shadow received')).toEqual(['production answered', 'shadow record: timeout']);
    expect(shadow.stats().failed).toEqual({ timeout: 1 });
  });

  for (const failing of [
    {
      name: 'records ECONNREFUSED when the shadow refuses connections',
      start: async () => ({ url: await refusedUrl(), connections: undefined }),
      code: 'ECONNREFUSED',
    },
    {
      name: 'records a timeout for a black-hole shadow that accepts the connection and never answers',
      start: async () => {
        const blackHole = closeLater(await startBlackHoleServer());
        return { url: blackHole.url, connections: () => blackHole.connections };
      },
      code: 'timeout',
    },
  ]) {
    it(`answers production first, and ${failing.name}`, async () => {
      const target = await failing.start();
      const log = memoryLog();
      const shadow = mirror({ target: target.url, logger: log.logger, timeoutMs: 200 });
      const events = timeline(log);
      const app = await startApp(shadow);
      const response = await sendRaw(app.url, { method: 'GET', path: '/predict' });
      events.push('production answered');
      expect(response.status).toBe(200);
      await log.waitFor('shadow');
      expect(events).toEqual(['production answered', `shadow record: ${failing.code}`]);
      if (target.connections) expect(target.connections()).toBe(1);
      expect(shadow.stats()).toMatchObject({ inFlight: 0, failed: { [failing.code]: 1 } });
      expect(shadow.stats().failed).toEqual({ [failing.code]: 1 });
    });
  }

  it("answers production before a slower shadow has answered, then records the shadow's answer", async () => {
    const held = closeLater(await startHeldShadowServer());
    const log = memoryLog();
    const shadow = mirror({ target: held.url, logger: log.logger });
    const events = timeline(log);
    const app = await startApp(shadow);
    const response = await sendRaw(app.url, { method: 'GET', path: '/predict' });
    events.push('production answered');
    expect(response.status).toBe(200);
    await held.waitFor(1);
    events.push('shadow releases its answer');
    held.releaseAll();
    await log.waitFor('shadow');
    expect(events).toEqual(['production answered', 'shadow releases its answer', 'shadow record: 200']);
  });

  it('skips a request as aborted when the client goes away before production answers, and sends nothing to the shadow', async () => {
    const shadowServer = closeLater(await startShadowServer());
    const log = memoryLog();
    const shadow = mirror({ target: shadowServer.url, logger: log.logger });
    const handlerStarted = deferred();
    const app = await startApp(shadow, () => {
      // Production never gets to answer.
      handlerStarted.resolve();
    });
    const client = await connectRaw(app.port);
    await client.write('POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}');
    await handlerStarted.promise;
    client.socket.destroy();
    const [skipped] = await log.waitFor('skipped');
    expect(skipped).toMatchObject({ reason: 'aborted', method: 'POST', path: '/predict' });
    await shadow.close();
    expect(shadowServer.received).toEqual([]);
    expect(recordsOfType(log.records, 'production')).toEqual([]);
    expect(shadow.stats()).toMatchObject({ mirrored: 0, skipped: { aborted: 1 }, queuedBytes: 0 });
  });

  it('does not follow a redirect from the shadow', async () => {
    const elsewhere = closeLater(await startShadowServer());
    const redirecting = closeLater(
      await startShadowServer((_req, res) => {
        res.writeHead(302, { location: `${elsewhere.url}/internal-metadata` });
        res.end();
      }),
    );
    const log = memoryLog();
    const shadow = mirror({ target: redirecting.url, logger: log.logger });
    const app = await startApp(shadow);
    await sendRaw(app.url, { method: 'GET', path: '/predict' });
    const [record] = await log.waitFor('shadow');
    expect(record).toMatchObject({ status: 302 });
    expect(record!.response!.headers.location).toBe(`${elsewhere.url}/internal-metadata`);
    await shadow.close();
    expect(redirecting.received).toHaveLength(1);
    expect(elsewhere.received).toEqual([]);
  });

  it('keeps mirroring and leaves production alone when the app logger throws on every record', async () => {
    const shadowServer = closeLater(await startShadowServer());
    const throwingLogger = {
      log() {
        throw new Error('disk full');
      },
    };
    const shadow = mirror({ target: shadowServer.url, logger: throwingLogger as unknown as ShadowOptions['logger'] });
    const app = await startApp(shadow);
    const response = await sendRaw(app.url, { method: 'GET', path: '/predict' });
    expect(JSON.parse(response.body.toString())).toEqual({ label: 'positive', model: 'production' });
    await shadowServer.waitFor(1);
    await shadow.close();
    expect(shadow.stats()).toMatchObject({ mirrored: 1, succeeded: 1 });
  });
});

describe('shadow answers that are endless, too big or broken', () => {
  it('reads at most maxShadowResponseBytes of an endless answer, then stops reading and flags it', async () => {
    const connectionClosed = deferred();
    const endless = closeLater(
      await startShadowServer((_req, res) => {
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        const chunk = Buffer.alloc(16 * 1024, 0x7a);
        const pump = () => {
          while (!res.destroyed) {
            if (!res.write(chunk)) {
              res.once('drain', pump);
              return;
            }
          }
        };
        res.on('close', () => connectionClosed.resolve());
        pump();
      }),
    );
    const log = memoryLog();
    const shadow = mirror({ target: endless.url, logger: log.logger, maxShadowResponseBytes: 100_000, timeoutMs: 10_000 });
    const app = await startApp(shadow);
    await sendRaw(app.url, { method: 'GET', path: '/predict' });
    const [record] = await log.waitFor('shadow');
    expect(record).toMatchObject({ status: 200, response: { responseTruncated: true, truncated: true } });
    expect(record!.error).toBeUndefined();
    // We hung up: the endless writer sees its connection close.
    await connectionClosed.promise;
    expect(shadow.stats()).toMatchObject({ succeeded: 1, inFlight: 0 });
  });

  it('stops at once when content-length announces more than maxShadowResponseBytes, and counts it as a breaker failure', async () => {
    // Announces 5 MB and never sends it: only the header can end this call before the timeout.
    const announcing = closeLater(
      await startShadowServer((_req, res) => {
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(5 * 1024 * 1024) });
        res.write('first bytes');
      }),
    );
    const log = memoryLog();
    const shadow = mirror({ target: announcing.url, logger: log.logger, timeoutMs: 10_000, breaker: { failureThreshold: 2, cooldownMs: 60_000 } });
    const app = await startApp(shadow);
    await sendRaw(app.url, { method: 'GET', path: '/predict' });
    await sendRaw(app.url, { method: 'GET', path: '/predict' });
    const records = await log.waitFor('shadow', 2);
    for (const record of records) expect(record).toMatchObject({ status: 200, response: { responseTruncated: true } });
    const [breaker] = await log.waitFor('breaker');
    expect(breaker).toMatchObject({ state: 'open', reason: '2 consecutive failures, last response_too_large' });
  });

  it('cuts a compressed answer at maxShadowResponseBytes after decompression (a gzip bomb)', async () => {
    const bomb = gzipSync(Buffer.alloc(20 * 1024 * 1024));
    const bomber = closeLater(
      await startShadowServer((_req, res) => {
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-encoding': 'gzip', 'content-length': bomb.length });
        res.end(bomb);
      }),
    );
    const log = memoryLog();
    const shadow = mirror({ target: bomber.url, logger: log.logger, maxShadowResponseBytes: 64 * 1024 });
    const app = await startApp(shadow);
    await sendRaw(app.url, { method: 'GET', path: '/predict' });
    const [record] = await log.waitFor('shadow');
    expect(bomb.length).toBeLessThan(64 * 1024);
    expect(record).toMatchObject({ status: 200, response: { responseTruncated: true } });
    expect(record!.response!.bodyBytes).toBeLessThanOrEqual(64 * 1024);
  });

  it('records an answer that starts but never ends as a timeout', async () => {
    const stalled = closeLater(
      await startShadowServer((_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write('{"label":');
      }),
    );
    const log = memoryLog();
    const shadow = mirror({ target: stalled.url, logger: log.logger, timeoutMs: 200 });
    const app = await startApp(shadow);
    expect((await sendRaw(app.url, { method: 'GET', path: '/predict' })).status).toBe(200);
    const [record] = await log.waitFor('shadow');
    expect(record!.error).toMatchObject({ code: 'timeout' });
    expect(record!.status).toBeUndefined();
  });

  for (const broken of [
    { name: 'resets the connection mid-body', start: () => startResettingServer(), code: 'ECONNRESET' },
    { name: 'closes the connection without answering', start: () => startTcpServer((socket) => socket.once('data', () => socket.destroy())), code: 'ECONNRESET' },
    { name: 'speaks SSH instead of HTTP', start: () => startGarbageServer('SSH-2.0-OpenSSH_9.6\r\n'), code: 'HPE_INVALID_CONSTANT' },
    { name: 'answers binary garbage and keeps the connection open', start: () => startGarbageServer(Buffer.from([0, 1, 2, 0xff, 0xfe, 13, 10, 13, 10]), 'keep-open'), code: 'HPE_INVALID_CONSTANT' },
    { name: 'sends a broken header line', start: () => startGarbageServer('HTTP/1.1 200 OK\r\nbad header line\r\n\r\n{}'), code: 'HPE_INVALID_HEADER_TOKEN' },
  ]) {
    it(`records a shadow that ${broken.name} as ${broken.code}, never as a partial success`, async () => {
      const server = closeLater(await broken.start());
      const log = memoryLog();
      const shadow = mirror({ target: server.url, logger: log.logger, timeoutMs: 2000 });
      const app = await startApp(shadow);
      const response = await sendRaw(app.url, { method: 'GET', path: '/predict' });
      expect(JSON.parse(response.body.toString())).toEqual({ label: 'positive', model: 'production' });
      const [record] = await log.waitFor('shadow');
      expect(record!.error).toMatchObject({ code: broken.code });
      expect(record!.status).toBeUndefined();
      expect(record!.response).toBeUndefined();
      expect(recordsOfType(log.records, 'comparison')).toEqual([]);
      expect(shadow.stats()).toMatchObject({ succeeded: 0, failed: { [broken.code]: 1 }, inFlight: 0 });
    });
  }
});

describe('a shadow call that never completes frees its slot', () => {
  for (const engine of engines) {
    for (const stuck of [
      // A 101 to a request that asked for no upgrade ends the call at once (the client closes the connection).
      { name: 'answers 101 Switching Protocols', reply: 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n', code: 'unexpected_upgrade', timeoutMs: 10_000 },
      { name: 'sends headers and never finishes the body', reply: 'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"label"', code: 'timeout', timeoutMs: 300 },
    ]) {
      it(`a shadow that ${stuck.name} gets a ${stuck.code} record, and with maxConcurrent 1 the next request is mirrored (${engine.name})`, async () => {
        let connection = 0;
        const server = closeLater(
          await startTcpServer((socket) => {
            const first = ++connection === 1;
            socket.once('data', () => {
              if (first) socket.write(stuck.reply);
              else socket.end('HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}');
            });
          }),
        );
        const { options, records } = await engine.setup();
        const shadow = mirror({ target: server.url, maxConcurrent: 1, timeoutMs: stuck.timeoutMs, compare: false, ...options } as ShadowOptions);
        const app = await startApp(shadow);
        await sendRaw(app.url, { method: 'GET', path: '/first' });
        await server.waitForConnections(1);
        await sendRaw(app.url, { method: 'GET', path: '/second' });
        await server.waitForConnections(2);
        const all = await records(shadow);
        const paths = new Map(recordsOfType(all, 'production').map((r) => [r.requestId, r.path]));
        const outcomes = recordsOfType(all, 'shadow').map((r) => `${paths.get(r.requestId)} ${r.error?.code ?? r.status}`);
        expect(outcomes.sort()).toEqual([`/first ${stuck.code}`, '/second 200']);
      });
    }
  }
});

describe('deadlines of calls in flight', () => {
  it('ends each call at its own deadline: one timer watches them all, and the later call outlives the earlier', async () => {
    const { createShadowClient } = await import('../lib/engine/dispatch.js');
    const blackHole = closeLater(await startBlackHoleServer());
    const client = createShadowClient({ timeoutMs: 800, maxConcurrent: 4, maxResponseBytes: 1024 });
    const call = () => client.send({ method: 'GET', url: new URL('/x', blackHole.url), headers: {}, body: undefined });
    try {
      const first = call();
      // The offset under test: the second call's deadline is 500 ms after the first's.
      await new Promise((resolve) => setTimeout(resolve, 500));
      const second = call();
      let secondEnded = false;
      void second.then(() => (secondEnded = true));
      expect(await first).toMatchObject({ ok: false, code: 'timeout' });
      await new Promise((resolve) => setImmediate(resolve));
      expect(secondEnded).toBe(false);
      expect(await second).toMatchObject({ ok: false, code: 'timeout' });
    } finally {
      client.destroy();
    }
  });
});
