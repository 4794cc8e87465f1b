/**
 * The request id: hostile x-request-id values are replaced, never echoed into the shadow's headers or the log's
 * lines; res.locals is untouched unless resLocals asks for the id there.
 */
import { readFile } from 'node:fs/promises';
import express from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import { shadowRequestId, type ShadowSettings } from '../lib/index.js';
import {
  exchangeRaw, frameworks, memoryLog, readRecords, recordsOfType, sendRaw, serve, startShadowServer, tempLogFile,
  testScope, withoutDate
} from './helpers.js';

const { closeLater, mirror, startApp, cleanUp } = testScope({ failOnUnhandledRejections: true });
afterEach(cleanUp);

describe('x-request-id values that are hostile', () => {
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

describe('res.locals', () => {
  /** An app that renders res.locals as JSON, the way a template engine would see it. */
  async function localsApp(shadowOptions: Partial<ShadowSettings> | undefined, shadowServerUrl: string, lib = express) {
    const log = memoryLog();
    const shadow = shadowOptions ? mirror({ target: shadowServerUrl, logger: log.logger, ...shadowOptions }) : undefined;
    const app = lib();
    if (shadow) app.use(shadow);
    app.use((req: express.Request, res: express.Response) => {
      res.locals.user = 'ada';
      res.set('x-id-seen', shadow ? shadowRequestId(req) : 'none').json(res.locals);
    });
    return { log, shadow, app: closeLater(await serve(app)) };
  }

  for (const framework of frameworks) {
    it(`is byte-identical with and without the middleware by default (${framework.name})`, async () => {
      const shadowServer = closeLater(await startShadowServer());
      const without = await localsApp(undefined, shadowServer.url, framework.lib);
      const withShadow = await localsApp({}, shadowServer.url, framework.lib);
      const plain = await sendRaw(without.app.url, { method: 'GET', path: '/page' });
      const mirrored = await sendRaw(withShadow.app.url, { method: 'GET', path: '/page' });
      expect(mirrored.body.toString()).toBe(plain.body.toString());
      expect(mirrored.body.toString()).toBe('{"user":"ada"}');
    });
  }

  it('resLocals: true sets res.locals.shadowRequestId, and shadowRequestId(req) is the id in the records', async () => {
    const shadowServer = closeLater(await startShadowServer());
    const { log, app } = await localsApp({ resLocals: true }, shadowServer.url);
    const response = await sendRaw(app.url, { method: 'GET', path: '/page' });
    const locals = JSON.parse(response.body.toString()) as { shadowRequestId: string };
    const [production] = await log.waitFor('production');
    const [record] = await log.waitFor('shadow');
    expect(locals.shadowRequestId).toBe(production!.requestId);
    expect(response.headers['x-id-seen']).toBe(production!.requestId);
    expect(record!.requestId).toBe(production!.requestId);
  });
});
