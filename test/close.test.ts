/**
 * close(): stops mirroring new requests, waits for the calls in flight and queued up to its timeout, cancels and logs
 * what is left, flushes every record, and never touches production's answers or connections.
 */
import http from 'node:http';
import express from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import { ShadowOptionsError } from '../lib/index.js';
import {
  deferred, listen, memoryLog, readRecords, recordsOfType, sendRaw, startBlackHoleServer, startHeldShadowServer,
  startRawUpload, startShadowServer, tempLogFile, testScope, until
} from './helpers.js';

const { closeLater, mirror, startApp, cleanUp } = testScope({ failOnUnhandledRejections: true });
afterEach(cleanUp);

describe('close()', () => {
  it('stops mirroring new requests, waits for in-flight and queued calls, then flushes every record to the file', async () => {
    const held = closeLater(await startHeldShadowServer());
    const logFile = await tempLogFile();
    const shadow = mirror({ target: held.url, logFile, maxConcurrent: 1 });
    const app = await startApp(shadow);
    for (let i = 0; i < 3; i++) await sendRaw(app.url, { method: 'GET', path: `/p${i}` });
    await held.waitFor(1);
    await until(() => shadow.stats().queued === 2);

    let closed = false;
    const closing = shadow.close({ timeoutMs: 10_000 }).then(() => (closed = true));
    const during = await sendRaw(app.url, { method: 'GET', path: '/during-close' });
    expect(JSON.parse(during.body.toString())).toEqual({ label: 'positive', model: 'production' });
    expect(closed).toBe(false);
    expect(shadow.stats().enabled).toBe(false);
    held.releaseAll();
    await closing;

    expect(held.received.map((r) => r.url)).toEqual(['/p0', '/p1', '/p2']);
    const records = await readRecords(logFile);
    expect(recordsOfType(records, 'production').map((r) => r.path)).toEqual(['/p0', '/p1', '/p2']);
    expect(recordsOfType(records, 'shadow').map((r) => [r.status, r.error])).toEqual([
      [200, undefined],
      [200, undefined],
      [200, undefined],
    ]);
    expect(shadow.stats()).toMatchObject({ inFlight: 0, queued: 0, queuedBytes: 0 });
  });

  it('cancels what is left at timeoutMs and logs each call as cancelled, in flight or queued', async () => {
    const blackHole = closeLater(await startBlackHoleServer());
    const logFile = await tempLogFile();
    const shadow = mirror({ target: blackHole.url, logFile, maxConcurrent: 1, timeoutMs: 60_000 });
    const app = await startApp(shadow);
    for (let i = 0; i < 3; i++) await sendRaw(app.url, { method: 'GET', path: `/p${i}` });
    await blackHole.waitForConnections(1);
    await until(() => shadow.stats().queued === 2);

    await shadow.close({ timeoutMs: 50 });
    const records = await readRecords(logFile);
    const shadows = recordsOfType(records, 'shadow');
    expect(shadows.map((r) => r.error?.code)).toEqual(['cancelled', 'cancelled', 'cancelled']);
    expect(new Set(shadows.map((r) => r.requestId))).toEqual(new Set(recordsOfType(records, 'production').map((r) => r.requestId)));
    expect(shadow.stats()).toMatchObject({ inFlight: 0, queued: 0, queuedBytes: 0, failed: { cancelled: 3 } });
  });

  it('does not count calls it cancelled as breaker failures', async () => {
    const blackHole = closeLater(await startBlackHoleServer());
    const log = memoryLog();
    const shadow = mirror({ target: blackHole.url, logger: log.logger, timeoutMs: 60_000, breaker: { failureThreshold: 2 } });
    const app = await startApp(shadow);
    for (let i = 0; i < 3; i++) await sendRaw(app.url, { method: 'GET', path: `/p${i}` });
    await blackHole.waitForConnections(3);
    await shadow.close({ timeoutMs: 0 });
    expect(recordsOfType(log.records, 'shadow').map((r) => r.error?.code)).toEqual(['cancelled', 'cancelled', 'cancelled']);
    expect(recordsOfType(log.records, 'breaker')).toEqual([]);
  });

  it('is safe to call twice: both calls resolve and the final records are written once', async () => {
    const shadowServer = closeLater(await startShadowServer());
    const logFile = await tempLogFile();
    const shadow = mirror({ target: shadowServer.url, logFile });
    const app = await startApp(shadow);
    await sendRaw(app.url, { method: 'GET', path: '/p' });
    await shadowServer.waitFor(1);
    await Promise.all([shadow.close(), shadow.close({ timeoutMs: 0 })]);
    await shadow.close();
    const after = await sendRaw(app.url, { method: 'GET', path: '/after' });
    expect(after.status).toBe(200);
    const records = await readRecords(logFile);
    expect(records.map((r) => r.type)).toEqual(['production', 'shadow', 'comparison', 'summary']);
    expect(shadowServer.received).toHaveLength(1);
  });

  it('does not mirror a request whose production answer ends after close(), and leaves that answer untouched', async () => {
    const shadowServer = closeLater(await startShadowServer());
    const shadow = mirror({ target: shadowServer.url, logFile: await tempLogFile() });
    const started = deferred();
    const finish = deferred();
    const app = await startApp(shadow, (_req, res) => {
      started.resolve();
      void finish.promise.then(() => res.json({ label: 'late' }));
    });
    const response = sendRaw(app.url, { method: 'POST', path: '/p', body: '{}' });
    await started.promise;
    await shadow.close();
    finish.resolve();
    expect(JSON.parse((await response).body.toString())).toEqual({ label: 'late' });
    expect(shadowServer.received).toEqual([]);
  });

  it('leaves a logger passed in by the app open', async () => {
    const log = memoryLog();
    const shadow = mirror({ target: 'http://127.0.0.1:9', logger: log.logger });
    await shadow.close();
    log.logger.info('still writable', { type: 'app' });
    await log.waitUntil((records) => records.some((r) => (r as unknown as { type: string }).type === 'app'));
    expect(log.logger.writable).toBe(true);
  });

  it('rejects a bad timeoutMs with ShadowOptionsError', async () => {
    const shadow = mirror({ target: 'http://127.0.0.1:9', logFile: '/dev/null' });
    await expect(shadow.close({ timeoutMs: -1 })).rejects.toThrow(ShadowOptionsError);
  });

  it('resolves within timeoutMs even while a client is still uploading a body production has already answered', async () => {
    const shadowServer = closeLater(await startShadowServer());
    const shadow = mirror({ target: shadowServer.url, logFile: await tempLogFile() });
    const app = express();
    app.use(shadow);
    app.use((req, res) => void res.status(401).send(`no ${req.path}`));
    const server = http.createServer(app);
    // Node closes a keep-alive connection left idle for keepAliveTimeout (5 s by default), and this client stays idle
    // while close() runs: on a loaded machine close() (a worker starting, say) can outlast it, and the connection then
    // closed for a reason that has nothing to do with us. Without that timer, only the middleware could close it.
    server.keepAliveTimeout = 0;
    const served = closeLater(await listen(server, {}));
    const upload = await startRawUpload(served.port, '/p', 10_000, 100, 'keep-alive');
    const client = upload.socket;
    const received: Buffer[] = [];
    const answered = (count: number) =>
      new Promise<void>((resolve) => {
        const check = () => {
          if (Buffer.concat(received).toString('latin1').split('HTTP/1.1 401').length - 1 < count) return;
          client.off('data', onData);
          resolve();
        };
        const onData = (chunk: Buffer) => {
          received.push(chunk);
          check();
        };
        client.on('data', onData);
        check();
      });
    await answered(1);
    await shadow.close({ timeoutMs: 50 });
    // The connection is the app's, and still works: the upload completes and a second request is answered on it.
    await upload.write(Buffer.alloc(9_900, 0x61));
    await upload.write('GET /second HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    await answered(2);
    expect(Buffer.concat(received).toString('latin1')).toMatch(/\r\n\r\nno \/p[\s\S]*\r\n\r\nno \/second$/);
    expect(client.destroyed).toBe(false);
    expect(shadowServer.received).toEqual([]);
    client.destroy();
  });
});
