/**
 * Hostile and broken input, and failing shadows: each case has a defined outcome (records, counters, production's
 * answer), never a crash, a leak or a change to production. Real servers on 127.0.0.1; raw `net` sockets for what
 * no HTTP client would send and for shadows that do not speak HTTP.
 */
import { createHash } from 'node:crypto';
import express from 'express';
import { readFile } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ShadowOptions } from '../lib/index.js';
import {
  byteCountingHandler,
  connectRaw,
  deferred,
  exchangeRaw,
  memoryLog,
  readRecords,
  recordsOfType,
  refusedUrl,
  sendRaw,
  serve,
  startBlackHoleServer,
  startGarbageServer,
  startHeldShadowServer,
  startRawUpload,
  startResettingServer,
  startShadowServer,
  startTcpServer,
  tempLogFile,
  testScope,
  trackUnhandledRejections,
} from './helpers.js';

const { cleanups, closeLater, mirror, startApp, cleanUp } = testScope();
let unhandled: ReturnType<typeof trackUnhandledRejections>;
beforeEach(() => {
  unhandled = trackUnhandledRejections();
});
afterEach(async () => {
  await cleanUp();
  unhandled.stop();
  // Whatever the input, nothing on the shadow path may surface as an unhandled rejection.
  expect(unhandled.reasons).toEqual([]);
});

/** A raw HTTP answer without its Date header, to compare answers given at different times. */
const withoutDate = (raw: string) => raw.replace(/^Date: .*\r\n/im, '');

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

  it('answers production and records ECONNREFUSED when the shadow refuses connections', async () => {
    const log = memoryLog();
    const shadow = mirror({ target: await refusedUrl(), logger: log.logger });
    const events = timeline(log);
    const app = await startApp(shadow);
    const response = await sendRaw(app.url, { method: 'GET', path: '/predict' });
    events.push('production answered');
    expect(response.status).toBe(200);
    await log.waitFor('shadow');
    expect(events).toEqual(['production answered', 'shadow record: ECONNREFUSED']);
    expect(shadow.stats().failed).toEqual({ ECONNREFUSED: 1 });
  });

  it('records a timeout for a black-hole shadow that accepts the connection and never answers', async () => {
    const blackHole = closeLater(await startBlackHoleServer());
    const log = memoryLog();
    const shadow = mirror({ target: blackHole.url, logger: log.logger, timeoutMs: 200 });
    const events = timeline(log);
    const app = await startApp(shadow);
    const response = await sendRaw(app.url, { method: 'GET', path: '/predict' });
    events.push('production answered');
    expect(response.status).toBe(200);
    await log.waitFor('shadow');
    expect(events).toEqual(['production answered', 'shadow record: timeout']);
    expect(blackHole.connections).toBe(1);
    expect(shadow.stats()).toMatchObject({ inFlight: 0, failed: { timeout: 1 } });
  });

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

describe('request bodies', () => {
  it('over maxBodyBytes: stops buffering at the limit, mirrors no part of it, and production still reads the whole body', async () => {
    const shadowServer = closeLater(await startShadowServer());
    const log = memoryLog();
    const shadow = mirror({ target: shadowServer.url, logger: log.logger, maxBodyBytes: 1000 });
    const counting = byteCountingHandler();
    const app = await startApp(shadow, counting.handler);
    const upload = await startRawUpload(app.port, '/upload', 5000, 3000);
    await counting.waitForBytes('/upload', 3000);
    // Past the limit nothing is held any more, though the upload goes on.
    expect(shadow.stats().queuedBytes).toBe(0);
    await upload.write(Buffer.alloc(2000, 0x61));
    expect((await upload.response).toString()).toMatch(/\r\n\r\n5000$/);
    const [skipped] = await log.waitFor('skipped');
    expect(skipped).toMatchObject({ reason: 'body_too_large', path: '/upload', status: 200 });
    expect(skipped!.detail).toContain('5000 bytes');
    await shadow.close();
    expect(shadowServer.received).toEqual([]);
    expect(recordsOfType(log.records, 'production')).toEqual([]);
    expect(shadow.stats()).toMatchObject({ skipped: { body_too_large: 1 }, queuedBytes: 0 });
  });

  it('mirrors a body of exactly maxBodyBytes and skips one a byte longer', async () => {
    const shadowServer = closeLater(await startShadowServer());
    const log = memoryLog();
    const shadow = mirror({ target: shadowServer.url, logger: log.logger, maxBodyBytes: 1000 });
    const app = await startApp(shadow, byteCountingHandler().handler);
    const exact = Buffer.alloc(1000, 0x31);
    expect((await sendRaw(app.url, { path: '/exact', body: exact })).body.toString()).toBe('1000');
    expect((await sendRaw(app.url, { path: '/over', body: Buffer.alloc(1001, 0x32) })).body.toString()).toBe('1001');
    await log.waitFor('skipped');
    await shadowServer.waitFor(1);
    await shadow.close();
    expect(shadowServer.received.map((r) => [r.url, r.body.equals(exact)])).toEqual([['/exact', true]]);
    expect(recordsOfType(log.records, 'skipped').map((r) => [r.path, r.reason])).toEqual([['/over', 'body_too_large']]);
  });

  it('a client that aborts mid-upload is skipped as aborted, nothing is mirrored, its bytes are freed, and the next request is mirrored', async () => {
    const shadowServer = closeLater(await startShadowServer());
    const log = memoryLog();
    const shadow = mirror({ target: shadowServer.url, logger: log.logger });
    const counting = byteCountingHandler();
    const app = await startApp(shadow, counting.handler);
    const upload = await startRawUpload(app.port, '/upload', 1000, 300);
    await counting.waitForBytes('/upload', 300);
    expect(shadow.stats().queuedBytes).toBe(300);
    upload.socket.destroy();
    const [skipped] = await log.waitFor('skipped');
    expect(skipped).toMatchObject({ reason: 'aborted', path: '/upload' });
    expect(shadow.stats().queuedBytes).toBe(0);

    expect((await sendRaw(app.url, { path: '/next', body: 'fine' })).body.toString()).toBe('4');
    const received = await shadowServer.waitFor(1);
    expect(received.map((r) => [r.url, r.body.toString()])).toEqual([['/next', 'fine']]);
  });

  it('mirrors a slow-drip upload byte for byte once complete, and mirrors other requests meanwhile', async () => {
    const shadowServer = closeLater(await startShadowServer());
    const log = memoryLog();
    const shadow = mirror({ target: shadowServer.url, logger: log.logger });
    const counting = byteCountingHandler();
    const app = await startApp(shadow, counting.handler);
    const pieces = Array.from({ length: 20 }, (_, i) => Buffer.from([i, 0xff - i, 0x0a]));
    const whole = Buffer.concat(pieces);
    const upload = await startRawUpload(app.port, '/drip', whole.length, 0);
    for (const [i, piece] of pieces.entries()) {
      await upload.write(piece);
      await counting.waitForBytes('/drip', (i + 1) * piece.length);
      if (i === 10) {
        // Halfway through the drip, another request is answered and mirrored.
        expect((await sendRaw(app.url, { path: '/quick', body: 'q' })).body.toString()).toBe('1');
        expect((await shadowServer.waitFor(1))[0]!.url).toBe('/quick');
      }
    }
    expect((await upload.response).toString()).toMatch(new RegExp(`\\r\\n\\r\\n${whole.length}$`));
    const received = await shadowServer.waitFor(2);
    expect(received[1]!.url).toBe('/drip');
    expect(received[1]!.body.equals(whole)).toBe(true);
  });

  const malformed = [
    { name: 'an invalid chunk size', bytes: 'POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n' },
    { name: 'a chunk longer than declared', bytes: 'POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX\r\n0\r\n\r\n' },
    { name: 'a bad chunk after a good one', bytes: 'POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n' },
    { name: 'both Transfer-Encoding and Content-Length', bytes: 'POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n5\r\nhello\r\n0\r\n\r\n' },
  ];
  for (const { name, bytes } of malformed) {
    it(`a chunked body with ${name} gets the same answer with and without the middleware, and is never mirrored`, async () => {
      const shadowServer = closeLater(await startShadowServer());
      const shadow = mirror({ target: shadowServer.url, logFile: await tempLogFile() });
      const counting = byteCountingHandler();
      const plain = await startApp(undefined, counting.handler);
      const mirrored = await startApp(shadow, counting.handler);
      const expected = await exchangeRaw(plain.port, bytes);
      expect(expected).toMatch(/^HTTP\/1\.1 400 Bad Request/);
      expect(withoutDate(await exchangeRaw(mirrored.port, bytes))).toBe(withoutDate(expected));
      // The server still serves, and what it mirrors is the next, well-formed request only.
      expect((await sendRaw(mirrored.url, { path: '/next', body: 'ok' })).body.toString()).toBe('2');
      await shadowServer.waitFor(1);
      await shadow.close();
      expect(shadowServer.received.map((r) => r.url)).toEqual(['/next']);
      expect(shadow.stats().queuedBytes).toBe(0);
    });
  }

  it('mirrors a chunked upload with the exact bytes and a Content-Length, never Transfer-Encoding', async () => {
    const shadowServer = closeLater(await startShadowServer());
    const shadow = mirror({ target: shadowServer.url, logFile: await tempLogFile() });
    const app = await startApp(shadow, byteCountingHandler().handler);
    const answer = await exchangeRaw(
      app.port,
      'POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\n\r\n',
    );
    expect(answer).toMatch(/\r\n\r\n11$/);
    const [received] = await shadowServer.waitFor(1);
    expect(received!.body.toString()).toBe('hello world');
    expect(received!.headers['content-length']).toBe('11');
    expect(received!.headers['transfer-encoding']).toBeUndefined();
  });

  it('answers a client that sends Expect: 100-continue, and the shadow request carries no Expect header', async () => {
    const shadowServer = closeLater(await startShadowServer());
    const log = memoryLog();
    const shadow = mirror({ target: shadowServer.url, logger: log.logger });
    const app = await startApp(shadow, byteCountingHandler().handler);
    const response = await sendRaw(app.url, { path: '/upload', headers: { expect: '100-continue' }, body: 'payload' });
    expect(response.body.toString()).toBe('7');
    const [received] = await shadowServer.waitFor(1);
    expect(received!.headers.expect).toBeUndefined();
    expect(received!.body.toString()).toBe('payload');
    expect((await log.waitFor('shadow'))[0]!.status).toBe(200);
  });
});

describe('hostile x-request-id values', () => {
  it('replaces oversized, quoted, non-ASCII and JSON-breaking ids, never echoing them into shadow headers; the log stays one JSON record per line', async () => {
    const shadowServer = closeLater(await startShadowServer());
    const logFile = await tempLogFile();
    const shadow = mirror({ target: shadowServer.url, logFile });
    const app = await startApp(shadow);
    const hostile: Buffer[] = [
      Buffer.from('a'.repeat(10_240)),
      Buffer.from('"quoted"'),
      Buffer.from('"},"type":"skipped","reason":"forged'),
      Buffer.from('caf\xc3\xa9-\xe2\x80\xa8-\xff', 'latin1'),
      Buffer.from('%0d%0aSet-Cookie:%20x=1'),
      Buffer.from('tab\there'),
    ];
    for (const [i, id] of hostile.entries()) {
      const request = Buffer.concat([Buffer.from(`GET /p${i} HTTP/1.1\r\nHost: x\r\nX-Request-Id: `), id, Buffer.from('\r\nConnection: close\r\n\r\n')]);
      expect(await exchangeRaw(app.port, request)).toMatch(/^HTTP\/1\.1 200 OK/);
    }
    const received = await shadowServer.waitFor(hostile.length);
    await shadow.close();

    const text = await readFile(logFile, 'utf8');
    const lines = text.split('\n').filter((line) => line.length > 0);
    // Every line is one whole record: nothing in an id could split a line or forge a record.
    const types = lines.map((line) => (JSON.parse(line) as { type: string }).type);
    expect(new Set(types)).toEqual(new Set(['production', 'shadow', 'comparison', 'summary']));
    const production = recordsOfType(await readRecords(logFile), 'production');
    expect(production).toHaveLength(hostile.length);
    const uuidV7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
    for (const record of production) expect(record.requestId).toMatch(uuidV7);
    for (const request of received) {
      expect(request.headers['x-request-id']).toMatch(uuidV7);
      expect(request.rawHeaders.filter((name) => name.toLowerCase() === 'x-request-id')).toHaveLength(1);
      expect(request.headers['set-cookie']).toBeUndefined();
    }
  });

  it('an id with a bare CR or a folded line is refused by Node before the app, the same with or without the middleware', async () => {
    const shadowServer = closeLater(await startShadowServer());
    const shadow = mirror({ target: shadowServer.url, logFile: await tempLogFile() });
    const plain = await startApp(undefined);
    const mirrored = await startApp(shadow);
    for (const header of ['X-Request-Id: abc\rInjected: 1', 'X-Request-Id: abc\r\n Injected: 1', 'X-Request-Id: abc\nInjected: 1']) {
      const request = `GET /p HTTP/1.1\r\nHost: x\r\n${header}\r\nConnection: close\r\n\r\n`;
      const expected = await exchangeRaw(plain.port, request);
      expect(expected).toMatch(/^HTTP\/1\.1 400 Bad Request/);
      expect(withoutDate(await exchangeRaw(mirrored.port, request))).toBe(withoutDate(expected));
    }
    await shadow.close();
    expect(shadowServer.received).toEqual([]);
    expect(shadow.stats().seen).toBe(0);
  });
});

describe('bodies that are not what they claim', () => {
  for (const { name, bytes } of [
    { name: 'invalid JSON', bytes: Buffer.from('{"text": "unterminated') },
    { name: 'not UTF-8', bytes: Buffer.from([0x7b, 0x22, 0x74, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0xc3, 0x28, 0x22, 0x7d]) },
  ]) {
    it(`a body declared application/json that is ${name} is mirrored byte for byte and, as it may hide a masked field, logged as its size and sha256`, async () => {
      const shadowServer = closeLater(await startShadowServer());
      const logFile = await tempLogFile();
      const shadow = mirror({ target: shadowServer.url, logFile });
      const app = await startApp(shadow, byteCountingHandler().handler);
      const response = await sendRaw(app.url, { path: '/predict', headers: { 'content-type': 'application/json' }, body: bytes });
      expect(response.body.toString()).toBe(String(bytes.length));
      const [received] = await shadowServer.waitFor(1);
      expect(received!.body.equals(bytes)).toBe(true);
      await shadow.close();
      const [production] = recordsOfType(await readRecords(logFile), 'production');
      expect(production!.request).toMatchObject({ body: '[REDACTED]', bodyBytes: bytes.length, bodySha256: createHash('sha256').update(bytes).digest('hex') });
    });
  }

  it("logs the shadow's own invalid JSON answer as base64 too", async () => {
    const answer = Buffer.from('<html>502 Bad Gateway</html>');
    const shadowServer = closeLater(
      await startShadowServer((_req, res) => {
        res.setHeader('content-type', 'application/json');
        res.end(answer);
      }),
    );
    const log = memoryLog();
    const shadow = mirror({ target: shadowServer.url, logger: log.logger });
    const app = await startApp(shadow);
    await sendRaw(app.url, { method: 'GET', path: '/predict' });
    const [record] = await log.waitFor('shadow');
    expect(record!.response).toMatchObject({ bodyEncoding: 'base64', body: answer.toString('base64') });
  });
});

describe('hostile shadow answers', () => {
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

describe('sensitive data', () => {
  const secrets = ['hunter2', '123-45-6789', '4111-1111', 'prod-token', 'shadow-token'];

  it('redact masks JSON fields in the logged request and both answers, and in comparison differences; the shadow still gets them', async () => {
    const shadowServer = closeLater(
      await startShadowServer((_req, res) => {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ label: 'positive', token: 'shadow-token' }));
      }),
    );
    const logFile = await tempLogFile();
    const shadow = mirror({ target: shadowServer.url, logFile, redact: ['$.password', '$.user.ssn', '$.cards[*].number', '$.token'] });
    const app = await startApp(shadow, (_req, res) => {
      res.json({ label: 'positive', token: 'prod-token' });
    });
    const body = JSON.stringify({ text: 'hi', password: 'hunter2', user: { name: 'ann', ssn: '123-45-6789' }, cards: [{ number: '4111-1111' }] });
    await sendRaw(app.url, { path: '/predict', headers: { 'content-type': 'application/json' }, body });
    const [received] = await shadowServer.waitFor(1);
    expect(received!.body.toString()).toBe(body);
    await shadow.close();

    const text = await readFile(logFile, 'utf8');
    for (const secret of secrets) expect(text).not.toContain(secret);
    const records = await readRecords(logFile);
    const [production] = recordsOfType(records, 'production');
    expect(production!.request.body).toEqual({ text: 'hi', password: '[REDACTED]', user: { name: 'ann', ssn: '[REDACTED]' }, cards: [{ number: '[REDACTED]' }] });
    expect(production!.response.body).toEqual({ label: 'positive', token: '[REDACTED]' });
    expect(recordsOfType(records, 'shadow')[0]!.response!.body).toEqual({ label: 'positive', token: '[REDACTED]' });
    const [comparison] = recordsOfType(records, 'comparison');
    expect(comparison!.differences).toEqual([{ path: '$.token', production: '[REDACTED]', shadow: '[REDACTED]' }]);
  });

  it('redact masks the fields of JSON bodies too long to log whole before cutting them', async () => {
    const padding = 'x'.repeat(2000);
    const shadowServer = closeLater(
      await startShadowServer((_req, res) => {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ token: 'shadow-token', padding }));
      }),
    );
    const logFile = await tempLogFile();
    const shadow = mirror({ target: shadowServer.url, logFile, maxLoggedBodyBytes: 200, redact: ['$.password', '$.token'] });
    const app = await startApp(shadow, (_req, res) => {
      res.json({ token: 'prod-token', padding });
    });
    await sendRaw(app.url, { path: '/predict', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ password: 'hunter2', padding }) });
    await shadowServer.waitFor(1);
    await shadow.close();
    const text = await readFile(logFile, 'utf8');
    for (const secret of secrets) expect(text).not.toContain(secret);
    const records = await readRecords(logFile);
    const [production] = recordsOfType(records, 'production');
    expect(production!.request).toMatchObject({ truncated: true });
    expect(production!.request.body).toMatch(/^\{"password":"\[REDACTED\]","padding":"x+$/);
    expect(production!.response).toMatchObject({ truncated: true });
    expect(recordsOfType(records, 'shadow')[0]!.response).toMatchObject({ truncated: true });
  });

  it('redact withholds a JSON-typed body it cannot parse, rather than log it raw', async () => {
    const shadowServer = closeLater(await startShadowServer());
    const logFile = await tempLogFile();
    const shadow = mirror({ target: shadowServer.url, logFile, redact: ['$.password'] });
    const app = await startApp(shadow, byteCountingHandler().handler);
    const body = Buffer.from('{"password": "hunter2", oops');
    await sendRaw(app.url, { path: '/predict', headers: { 'content-type': 'application/json' }, body });
    const [received] = await shadowServer.waitFor(1);
    expect(received!.body.equals(body)).toBe(true);
    await shadow.close();
    const text = await readFile(logFile, 'utf8');
    expect(text).not.toContain('hunter2');
    expect(text).not.toContain(body.toString('base64'));
    const [production] = recordsOfType(await readRecords(logFile), 'production');
    expect(production!.request).toMatchObject({ body: '[REDACTED]', bodyBytes: body.length });
  });

  it('stripHeaders removes headers from the shadow request only; redactHeaders masks them in the log', async () => {
    const shadowServer = closeLater(await startShadowServer());
    const logFile = await tempLogFile();
    const shadow = mirror({ target: shadowServer.url, logFile, stripHeaders: ['X-Internal-Token'], redactHeaders: ['x-internal-token', 'x-tenant'] });
    const seenByApp: (string | string[] | undefined)[] = [];
    const app = await startApp(shadow, (req, res) => {
      seenByApp.push(req.headers['x-internal-token']);
      res.json({ ok: true });
    });
    await sendRaw(app.url, { method: 'GET', path: '/p', headers: { 'x-internal-token': 'tok-123', 'x-tenant': 'acme', authorization: 'Bearer abc' } });
    const [received] = await shadowServer.waitFor(1);
    expect(received!.headers['x-internal-token']).toBeUndefined();
    expect(received!.headers['x-tenant']).toBe('acme');
    expect(seenByApp).toEqual(['tok-123']);
    await shadow.close();
    const text = await readFile(logFile, 'utf8');
    expect(text).not.toContain('tok-123');
    expect(text).not.toContain('acme');
    const [production] = recordsOfType(await readRecords(logFile), 'production');
    expect(production!.request.headers).toMatchObject({ 'x-internal-token': '[REDACTED]', 'x-tenant': '[REDACTED]' });
  });

  it("masks set-cookie in both answers' logged headers by default", async () => {
    const shadowServer = closeLater(
      await startShadowServer((_req, res) => {
        res.setHeader('set-cookie', 'session=shadow-session');
        res.end('{}');
      }),
    );
    const logFile = await tempLogFile();
    const shadow = mirror({ target: shadowServer.url, logFile });
    const app = await startApp(shadow, (_req, res) => {
      res.cookie('session', 'prod-session').json({});
    });
    await sendRaw(app.url, { method: 'GET', path: '/p' });
    await shadowServer.waitFor(1);
    await shadow.close();
    const text = await readFile(logFile, 'utf8');
    expect(text).not.toContain('prod-session');
    expect(text).not.toContain('shadow-session');
    const records = await readRecords(logFile);
    expect(recordsOfType(records, 'production')[0]!.response.headers['set-cookie']).toBe('[REDACTED]');
    expect(recordsOfType(records, 'shadow')[0]!.response!.headers['set-cookie']).toBe('[REDACTED]');
  });

  it("never changes the app's own objects: the parsed request body and the object production answered with keep their values", async () => {
    const shadowServer = closeLater(await startShadowServer());
    const logFile = await tempLogFile();
    const shadow = mirror({ target: shadowServer.url, logFile, redact: ['$.password', '$.token'] });
    const answered = { token: 'prod-token', label: 'positive' };
    const bodies: unknown[] = [];
    const app = express();
    app.use(express.json());
    app.use(shadow);
    app.use((req, res) => {
      bodies.push(req.body);
      res.json(answered);
    });
    const server = closeLater(await serve(app));
    await sendRaw(server.url, { path: '/p', headers: { 'content-type': 'application/json' }, body: '{"password":"hunter2"}' });
    await shadowServer.waitFor(1);
    await shadow.close();
    expect(bodies).toEqual([{ password: 'hunter2' }]);
    expect(answered).toEqual({ token: 'prod-token', label: 'positive' });
    const [production] = recordsOfType(await readRecords(logFile), 'production');
    expect(production!.request).toMatchObject({ bodySource: 'parsed', body: { password: '[REDACTED]' } });
  });
});

describe('hostile request targets', () => {
  it('never lets the request target pick another host or climb out of the base path', async () => {
    const evil = closeLater(await startShadowServer());
    const shadowServer = closeLater(await startShadowServer());
    const log = memoryLog();
    const shadow = mirror({ target: `${shadowServer.url}/v2`, logger: log.logger });
    const server = closeLater(await serve((req, res) => shadow(req, res, () => res.end('ok'))));
    const evilHost = `127.0.0.1:${evil.port}`;
    const cases: { target: string; outcome: string }[] = [
      { target: `//${evilHost}/steal`, outcome: `/v2//${evilHost}/steal` },
      { target: `///${evilHost}/steal`, outcome: `/v2///${evilHost}/steal` },
      { target: `/\\${evilHost}/steal`, outcome: `/v2/\\${evilHost}/steal` },
      { target: `/%5c${evilHost}/steal`, outcome: `/v2/%5c${evilHost}/steal` },
      { target: `http://${evilHost}/steal?q=1`, outcome: '/v2/steal?q=1' },
      { target: '/a/../b?x={"y"}', outcome: '/v2/a/../b?x={"y"}' },
      { target: '/a/%2e%2e/b/{c}/`d`', outcome: '/v2/a/%2e%2e/b/{c}/`d`' },
      { target: '/../admin', outcome: 'bad_url' },
      { target: '/%2e%2e/admin', outcome: 'bad_url' },
      { target: '*', outcome: 'bad_url' },
      { target: `\\\\${evilHost}/steal`, outcome: '400' },
      { target: `http:/${evilHost}/steal`, outcome: '400' },
    ];
    const outcomes: string[] = [];
    for (const { target } of cases) {
      const method = target === '*' ? 'OPTIONS' : 'GET';
      const before = log.records.length;
      const answer = await exchangeRaw(server.port, `${method} ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
      if (answer.startsWith('HTTP/1.1 400')) {
        outcomes.push('400');
        continue;
      }
      await log.waitUntil((records) => records.slice(before).some((r) => r.type === 'skipped' || r.type === 'shadow'));
      const skipped = recordsOfType(log.records.slice(before), 'skipped')[0];
      outcomes.push(skipped ? skipped.reason : shadowServer.received.at(-1)!.url);
    }
    await shadow.close();
    expect(outcomes).toEqual(cases.map((c) => c.outcome));
    expect(evil.received).toEqual([]);
  });
});

