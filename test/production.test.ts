/**
 * Production is never touched: the same status, headers and body with and without the middleware,
 * whatever the handler does.
 */
import compression from 'compression';
import express from 'express';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { shadowMiddleware, type ShadowMiddleware, type ShadowSettings } from '../lib/index.js';
import { exchangeRaw, memoryLog, readRecords, recordsOfType, sendRaw, serve, startShadowServer, tempDir, tempLogFile, testScope, withoutDate, type RawResponse } from './helpers.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});
const scope = testScope({ failOnUnhandledRejections: true });
const { closeLater, mirror, startApp } = scope;
afterEach(scope.cleanUp);

async function newShadow(extra: Partial<ShadowSettings> = {}) {
  const shadowServer = await startShadowServer();
  const logFile = await tempLogFile();
  const shadow = shadowMiddleware({ target: shadowServer.url, logFile, ...extra });
  cleanups.push(() => shadowServer.close(), () => shadow.close());
  return { shadowServer, logFile, shadow };
}

/** Builds the same app twice, with and without the middleware, serves both and returns a function comparing them. */
async function twins(build: (app: express.Express) => void, shadow: ShadowMiddleware) {
  const plain = express();
  build(plain);
  const mirrored = express();
  mirrored.use(shadow);
  build(mirrored);
  const plainServer = await serve(plain);
  const mirroredServer = await serve(mirrored);
  cleanups.push(() => plainServer.close(), () => mirroredServer.close());
  return async (options: Parameters<typeof sendRaw>[1]): Promise<[RawResponse, RawResponse]> => {
    const a = await sendRaw(plainServer.url, options);
    const b = await sendRaw(mirroredServer.url, options);
    return [a, b];
  };
}

function expectSameResponse(plain: RawResponse, mirrored: RawResponse): void {
  expect(mirrored.status).toBe(plain.status);
  const { date: _a, etag: _b, ...plainHeaders } = plain.headers;
  const { date: _c, etag: _d, ...mirroredHeaders } = mirrored.headers;
  expect(mirroredHeaders).toEqual(plainHeaders);
  expect(mirrored.body.equals(plain.body)).toBe(true);
}

describe('production responses are identical with and without the middleware', () => {
  it('for a streamed chunked response', async () => {
    const { shadow, shadowServer, logFile } = await newShadow();
    const compareBoth = await twins((app) => {
      app.get('/stream', (_req, res) => {
        res.setHeader('content-type', 'text/plain');
        res.write('one,');
        res.write(Buffer.from('two,'));
        res.write('thrée', 'utf8');
        res.end();
      });
    }, shadow);
    const [plain, mirrored] = await compareBoth({ method: 'GET', path: '/stream' });
    expectSameResponse(plain, mirrored);
    expect(mirrored.headers['transfer-encoding']).toBe('chunked');
    await shadowServer.waitFor(1);
    await shadow.close();
    const [production] = recordsOfType(await readRecords(logFile), 'production');
    expect(production!.response.body).toBe('one,two,thrée');
  });

  it('for res.sendFile', async () => {
    const { shadow } = await newShadow();
    const dir = await tempDir();
    const file = path.join(dir, 'model-card.txt');
    await writeFile(file, 'x'.repeat(100_000));
    const compareBoth = await twins((app) => app.get('/file', (_req, res) => res.sendFile(file)), shadow);
    const [plain, mirrored] = await compareBoth({ method: 'GET', path: '/file' });
    expect(plain.body.length).toBe(100_000);
    expectSameResponse(plain, mirrored);
  });

  it('for a redirect', async () => {
    const { shadow } = await newShadow();
    const compareBoth = await twins((app) => app.get('/old', (_req, res) => res.redirect(301, '/new')), shadow);
    const [plain, mirrored] = await compareBoth({ method: 'GET', path: '/old' });
    expect(plain.status).toBe(301);
    expectSameResponse(plain, mirrored);
  });

  it('for an error thrown by the handler: the app error handler still gets it', async () => {
    const { shadow, shadowServer, logFile } = await newShadow();
    const handled: string[] = [];
    const compareBoth = await twins((app) => {
      app.get('/boom', () => {
        throw new Error('model crashed');
      });
      app.use((error: Error, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
        handled.push(error.message);
        res.status(500).json({ error: error.message });
      });
    }, shadow);
    const [plain, mirrored] = await compareBoth({ method: 'GET', path: '/boom' });
    expectSameResponse(plain, mirrored);
    expect(handled).toEqual(['model crashed', 'model crashed']);
    await shadowServer.waitFor(1);
    await shadow.close();
    const [production] = recordsOfType(await readRecords(logFile), 'production');
    expect(production!.status).toBe(500);
  });

  it('for 204, 304 and HEAD', async () => {
    const { shadow, shadowServer } = await newShadow();
    const compareBoth = await twins((app) => {
      app.delete('/item', (_req, res) => res.status(204).end());
      app.get('/cached', (_req, res) => res.set('etag', '"v1"').send('cached body'));
      app.get('/head', (_req, res) => res.json({ hello: 'world' }));
    }, shadow);
    for (const [plain, mirrored] of [
      await compareBoth({ method: 'DELETE', path: '/item' }),
      await compareBoth({ method: 'GET', path: '/cached', headers: { 'if-none-match': '"v1"' } }),
      await compareBoth({ method: 'HEAD', path: '/head' }),
    ]) {
      expectSameResponse(plain, mirrored);
    }
    const received = await shadowServer.waitFor(3);
    expect(received.map((r) => r.method).sort()).toEqual(['DELETE', 'GET', 'HEAD']);
  });

  it('when compression runs after the middleware: the client gets gzip, the log holds the decoded JSON', async () => {
    const { shadow, shadowServer, logFile } = await newShadow();
    const answer = { label: 'positive', text: 'y'.repeat(5000) };
    const compareBoth = await twins((app) => {
      app.use(compression({ threshold: 0 }));
      app.get('/big', (_req, res) => res.json(answer));
    }, shadow);
    const [plain, mirrored] = await compareBoth({ method: 'GET', path: '/big', headers: { 'accept-encoding': 'gzip' } });
    expectSameResponse(plain, mirrored);
    expect(mirrored.headers['content-encoding']).toBe('gzip');
    expect(JSON.parse(gunzipSync(mirrored.body).toString())).toEqual(answer);
    await shadowServer.waitFor(1);
    await shadow.close();
    const [production] = recordsOfType(await readRecords(logFile), 'production');
    expect(production!.response.body).toEqual(answer);
  });

  it('adds no header and waits for nothing: the response is complete before the shadow has answered', async () => {
    let releaseShadow!: () => void;
    const shadowGate = new Promise<void>((resolve) => (releaseShadow = resolve));
    const shadowServer = await startShadowServer((_req, res) => void shadowGate.then(() => res.end('late')));
    const shadow = shadowMiddleware({ target: shadowServer.url, logFile: await tempLogFile() });
    // Cleanups run in reverse: the shadow is released first, so close() does not wait on it.
    cleanups.push(() => shadowServer.close(), () => shadow.close(), async () => releaseShadow());
    const app = express();
    app.use(shadow);
    app.get('/fast', (_req, res) => res.send('fast'));
    const server = await serve(app);
    cleanups.push(() => server.close());
    const first = await sendRaw(server.url, { method: 'GET', path: '/fast' });
    await shadowServer.waitFor(1);
    // The shadow holds its answer; production answers the next request all the same.
    const second = await sendRaw(server.url, { method: 'GET', path: '/fast' });
    expect(first.body.toString()).toBe('fast');
    expect(second.body.toString()).toBe('fast');
    expect(shadow.stats().inFlight).toBeGreaterThanOrEqual(1);
    expect(Object.keys(first.headers).sort()).toEqual(['connection', 'content-length', 'content-type', 'date', 'etag', 'x-powered-by']);
  });
});

describe('works without Express', () => {
  it('mirrors from a bare node:http server', async () => {
    const { shadow, shadowServer, logFile } = await newShadow();
    const server = await serve((req, res) => {
      shadow(req, res, () => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => res.end(`got ${Buffer.concat(chunks).length} bytes`));
      });
    });
    cleanups.push(() => server.close());
    const response = await sendRaw(server.url, { path: '/bare?x=1', body: 'hello', headers: { 'content-type': 'text/plain' } });
    expect(response.body.toString()).toBe('got 5 bytes');
    const [received] = await shadowServer.waitFor(1);
    expect(received!.url).toBe('/bare?x=1');
    expect(received!.body.toString()).toBe('hello');
    await shadow.close();
    const [production] = recordsOfType(await readRecords(logFile), 'production');
    expect(production!.route).toBeNull();
    // No content type: logged as base64, as any body of unknown type.
    expect(production!.response).toMatchObject({ body: Buffer.from('got 5 bytes').toString('base64'), bodyEncoding: 'base64' });
  });

  it('captures a body the parser pushed before the middleware ran (async middleware ahead of it)', async () => {
    const { shadow, shadowServer } = await newShadow();
    const app = express();
    // An async step ahead (say, an auth lookup): the body arrives and is buffered meanwhile.
    app.use((_req, _res, next) => void setTimeout(next, 30));
    app.use(shadow);
    app.use(express.json());
    app.post('/p', (req, res) => res.json(req.body));
    const server = await serve(app);
    cleanups.push(() => server.close());
    const body = JSON.stringify({ text: 'z'.repeat(40_000) });
    const response = await sendRaw(server.url, { path: '/p', body, headers: { 'content-type': 'application/json' } });
    expect(response.body.toString()).toBe(body);
    const [received] = await shadowServer.waitFor(1);
    expect(received!.body.toString()).toBe(body);
  });

  it('mirrors once when the same middleware is mounted twice', async () => {
    const { shadow, shadowServer } = await newShadow();
    const app = express();
    app.use(shadow);
    app.post('/p', shadow, express.json(), (req, res) => res.json(req.body));
    const server = await serve(app);
    cleanups.push(() => server.close());
    await sendRaw(server.url, { path: '/p', body: '{"a":1}', headers: { 'content-type': 'application/json' } });
    await shadow.close();
    expect(shadowServer.received).toHaveLength(1);
  });

  it('explains app.use(shadowMiddleware) without the call', async () => {
    const app = express();
    app.use(shadowMiddleware as unknown as express.RequestHandler);
    const errors: string[] = [];
    app.use((error: Error, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
      errors.push(error.message);
      res.status(500).end();
    });
    const server = await serve(app);
    cleanups.push(() => server.close());
    await sendRaw(server.url, { method: 'GET', path: '/' });
    expect(errors[0]).toMatch(/mounted without being called/);
  });
});

describe('production responses are identical with and without the middleware: framing', () => {
  it("res.write(chunk, 'bogus-encoding') behaves exactly as without the middleware: same error, same bytes on the wire", async () => {
    const shadowServer = closeLater(await startShadowServer());
    const handler: express.RequestHandler = (req, res) => {
      res.setHeader('content-type', 'text/plain');
      const chunk = req.path === '/buffer' ? Buffer.from('bytes') : 'text';
      try {
        res.write(chunk, 'bogus-encoding' as BufferEncoding);
        res.end('|ended');
      } catch (error) {
        const e = error as NodeJS.ErrnoException;
        res.end(`threw ${e.constructor.name} ${e.code} ${e.message}`);
      }
    };
    const plain = await startApp(undefined, handler);
    const log = memoryLog();
    const mirrored = await startApp(mirror({ target: shadowServer.url, logger: log.logger }), handler);
    for (const path of ['/string', '/buffer']) {
      const request = `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`;
      const without = withoutDate(await exchangeRaw(plain.port, request));
      const withShadow = withoutDate(await exchangeRaw(mirrored.port, request));
      expect(withShadow).toBe(without);
    }
    const stringAnswer = withoutDate(await exchangeRaw(plain.port, 'GET /string HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n'));
    expect(stringAnswer).toMatch(/threw TypeError ERR_UNKNOWN_ENCODING/);
  });
});
