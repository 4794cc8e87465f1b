/**
 * Request bodies as clients really send them: over maxBodyBytes, aborted mid-upload, dripped slowly, malformed chunked
 * framing, Expect: 100-continue, and bodies production answered before reading them, which are never mirrored as if
 * complete. Raw `net` sockets for what no HTTP client would send.
 */
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import type { ShadowSettings } from '../lib/index.js';
import {
  byteCountingHandler, connectRaw, exchangeRaw, memoryLog, recordsOfType, sendRaw, startRawUpload, startShadowServer,
  tempLogFile, testScope, withoutDate
} from './helpers.js';

const { closeLater, mirror, startApp, cleanUp } = testScope({ failOnUnhandledRejections: true });
afterEach(cleanUp);

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

  it('a client that aborts mid-upload after production answered (reading on) is skipped as aborted, its bytes freed, and the next request is mirrored', async () => {
    const shadowServer = closeLater(await startShadowServer());
    const log = memoryLog();
    const shadow = mirror({ target: shadowServer.url, logger: log.logger });
    const app = await startApp(shadow, (req, res) => {
      // Reads on (so Node does not discard the body) but answers at once: the hand-off waits for the rest of the body.
      req.on('data', () => {});
      res.status(202).end('accepted');
    });
    const upload = await startRawUpload(app.port, '/upload', 1000, 300, 'keep-alive');
    const [answer] = (await once(upload.socket, 'data')) as [Buffer];
    expect(answer.toString()).toMatch(/^HTTP\/1\.1 202 /);
    upload.socket.destroy();
    const [skipped] = await log.waitFor('skipped');
    expect(skipped).toMatchObject({ reason: 'aborted', path: '/upload' });
    expect(shadow.stats().queuedBytes).toBe(0);

    expect((await sendRaw(app.url, { path: '/next', body: 'fine' })).body.toString()).toBe('accepted');
    const received = await shadowServer.waitFor(1);
    expect(received.map((r) => [r.url, r.body.toString()])).toEqual([['/next', 'fine']]);
  });

  it('bodies that finish after production answered, one after another on a keep-alive connection, are all mirrored whole, and the connection gathers no listeners', async () => {
    const shadowServer = closeLater(await startShadowServer());
    const shadow = mirror({ target: shadowServer.url });
    const warnings: Error[] = [];
    const onWarning = (warning: Error) => warnings.push(warning);
    process.on('warning', onWarning);
    const app = await startApp(shadow, (req, res) => {
      req.on('data', () => {});
      res.status(202).end('accepted');
    });
    const client = await connectRaw(app.port);
    const closeListeners: number[] = [];
    for (let i = 0; i < 12; i++) {
      const answered = once(client.socket, 'data');
      await client.write(`POST /late/${i} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 8\r\n\r\nfirst${i}`);
      await answered;
      await client.write('!!!'.slice(0, 8 - `first${i}`.length));
      await shadowServer.waitFor(i + 1);
      closeListeners.push(client.socket.listenerCount('close'));
    }
    process.off('warning', onWarning);
    client.socket.destroy();
    const received = await shadowServer.waitFor(12);
    expect(received.map((r) => r.body.toString())).toEqual(Array.from({ length: 12 }, (_, i) => `first${i}`.padEnd(8, '!')));
    expect(new Set(closeListeners).size).toBe(1);
    expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning')).toEqual([]);
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

describe('partial bodies are never mirrored as complete', () => {
  /** An app whose handler answers `status` at once, without reading the body (an auth check, a rate limiter). */
  async function answeringEarly(status: number, options: Partial<ShadowSettings> = {}) {
    const shadowServer = closeLater(await startShadowServer());
    const log = memoryLog();
    const shadow = mirror({ target: shadowServer.url, logger: log.logger, ...options });
    const app = await startApp(shadow, (_req, res) => {
      res.status(status).json({ error: 'not now' });
    });
    return { shadowServer, log, shadow, app };
  }

  for (const status of [401, 429, 202]) {
    it(`a ${status} answered before a content-length upload is read is skipped as body_incomplete, and the shadow gets nothing`, async () => {
      const { shadowServer, log, shadow, app } = await answeringEarly(status);
      const declared = 512 * 1024;
      const client = await startRawUpload(app.port, '/upload', declared, 16 * 1024, 'keep-alive');
      // Production answers after the first bytes; the client then sends the rest, as a real uploader would.
      await client.write(Buffer.alloc(declared - 16 * 1024, 0x62));
      const [skipped] = await log.waitFor('skipped');
      client.socket.destroy();
      expect(skipped).toMatchObject({ reason: 'body_incomplete', status });
      await shadow.close();
      expect(shadowServer.received).toEqual([]);
      expect(recordsOfType(log.records, 'production')).toEqual([]);
    });
  }

  it('a chunked upload production answered 401 before reading is skipped as body_incomplete, never mirrored truncated', async () => {
    const { shadowServer, log, shadow, app } = await answeringEarly(401);
    const client = await connectRaw(app.port);
    await client.write('POST /upload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n');
    await client.write('4\r\nfirs\r\n');
    // Production's answer first, so the rest arrives after Node dumped the body.
    expect(await readSome(client.socket)).toContain('401');
    await client.write('6\r\nsecond\r\n0\r\n\r\n');
    await log.waitUntil((records) => records.length > 0);
    client.socket.destroy();
    expect(log.records[0]).toMatchObject({ type: 'skipped', reason: 'body_incomplete', status: 401 });
    await shadow.close();
    expect(shadowServer.received).toEqual([]);
  });

  it('a client that keeps sending slowly after a 429 is skipped as body_incomplete without waiting for it, and the next request is mirrored', async () => {
    const { shadowServer, log, shadow, app } = await answeringEarly(429);
    const client = await startRawUpload(app.port, '/upload', 40, 10, 'keep-alive');
    expect(await readSome(client.socket)).toContain('429');
    // Decided while the client is still sending: a slow client holds nothing of ours.
    const [skipped] = await log.waitFor('skipped');
    expect(skipped).toMatchObject({ reason: 'body_incomplete', status: 429 });
    await shadow.whenIdle();
    for (let i = 0; i < 3; i++) await client.write(Buffer.alloc(10, 0x63));
    client.socket.destroy();
    expect(shadowServer.received).toEqual([]);
    // The same app mirrors a request whose body production did read.
    const reading = mirror({ target: shadowServer.url, logger: log.logger });
    const other = await startApp(reading, (req, res) => {
      req.resume();
      req.on('end', () => res.status(202).end());
    });
    await sendRaw(other.url, { path: '/upload', body: 'all of it' });
    const [received] = await shadowServer.waitFor(1);
    expect(received!.body.toString()).toBe('all of it');
    await shadow.close();
  });
});

/** Resolves with the next bytes the server sends on this socket. */
async function readSome(socket: import('node:net').Socket): Promise<string> {
  const [chunk] = (await once(socket, 'data')) as [Buffer];
  return chunk.toString('latin1');
}
