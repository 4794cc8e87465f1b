import express from 'express';
import express4 from 'express4';
import multer from 'multer';
import request from 'supertest';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { shadowMiddleware, shadowRequestId, type ShadowMiddleware } from '../lib/index.js';
import { readRecords, recordsOfType, sendRaw, serve, startShadowServer, tempDir, tempLogFile } from './helpers.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup(options: { express?: typeof express } = {}) {
  const shadowServer = await startShadowServer();
  const logFile = await tempLogFile();
  const shadow = shadowMiddleware({ target: shadowServer.url, logFile });
  cleanups.push(() => shadowServer.close(), () => shadow.close());
  return { shadowServer, logFile, shadow, framework: options.express ?? express };
}

/** An app that records what its handler saw in req.body, with `shadow` mounted before or after the parser. */
function parserApp(
  framework: typeof express,
  shadow: ShadowMiddleware | undefined,
  parser: express.RequestHandler,
  placement: 'before' | 'after',
) {
  const app = framework();
  const seen: unknown[] = [];
  if (shadow && placement === 'before') app.use(shadow);
  app.post('/predict', parser, ...(shadow && placement === 'after' ? [shadow] : []), (req, res) => {
    seen.push(req.body);
    res.json({ label: 'positive', model: 'production' });
  });
  return { app, seen };
}

const bodies: { name: string; type: string; bytes: Buffer; parser: () => express.RequestHandler }[] = [
  { name: 'JSON', type: 'application/json', bytes: Buffer.from('{"text":"great  product",  "n": 1.50}'), parser: () => express.json() },
  { name: 'urlencoded', type: 'application/x-www-form-urlencoded', bytes: Buffer.from('text=caf%C3%A9+ok&x=1&x=2'), parser: () => express.urlencoded({ extended: false }) },
  { name: 'binary', type: 'application/octet-stream', bytes: Buffer.from([0, 255, 1, 254, 10, 13, 0x1f, 0x8b]), parser: () => express.raw() },
  { name: 'text', type: 'text/plain; charset=utf-8', bytes: Buffer.from('héllo wörld\n'), parser: () => express.text() },
];

for (const framework of [
  { name: 'Express 5', lib: express },
  { name: 'Express 4', lib: express4 as unknown as typeof express },
]) {
  describe(`byte-exact capture (${framework.name})`, () => {
    for (const body of bodies) {
      it(`mirrors a ${body.name} body byte for byte when mounted before the parser, and the handler's req.body is unchanged`, async () => {
        const { shadowServer, logFile, shadow } = await setup();
        const plain = parserApp(framework.lib, undefined, body.parser(), 'before');
        const mirrored = parserApp(framework.lib, shadow, body.parser(), 'before');
        const headers = { 'content-type': body.type };
        const plainServer = await serve(plain.app);
        const mirroredServer = await serve(mirrored.app);
        cleanups.push(() => plainServer.close(), () => mirroredServer.close());
        const plainResponse = await sendRaw(plainServer.url, { path: '/predict', headers, body: body.bytes });
        const mirroredResponse = await sendRaw(mirroredServer.url, { path: '/predict', headers, body: body.bytes });

        const [received] = await shadowServer.waitFor(1);
        expect(received!.body.equals(body.bytes)).toBe(true);
        expect(received!.headers['content-length']).toBe(String(body.bytes.length));
        expect(received!.headers['content-type']).toBe(body.type);
        expect(mirrored.seen).toEqual(plain.seen);
        expect(mirroredResponse.status).toBe(plainResponse.status);
        expect(mirroredResponse.body.equals(plainResponse.body)).toBe(true);
        expect(mirroredResponse.headers).toEqual({ ...plainResponse.headers, date: mirroredResponse.headers.date });

        await shadow.close();
        const records = await readRecords(logFile);
        const [production] = recordsOfType(records, 'production');
        expect(production!.request.bodySource).toBe('raw');
        expect(recordsOfType(records, 'shadow')[0]!.requestId).toBe(production!.requestId);
      });
    }

    it('mirrors a gzip-encoded JSON body as the same compressed bytes, and logs it decoded', async () => {
      const { shadowServer, logFile, shadow } = await setup();
      const json = { text: 'compressed request', items: [1, 2, 3] };
      const gz = gzipSync(JSON.stringify(json));
      const { app, seen } = parserApp(framework.lib, shadow, express.json(), 'before');
      const server = await serve(app);
      cleanups.push(() => server.close());
      const response = await sendRaw(server.url, { path: '/predict', headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' }, body: gz });
      expect(response.status).toBe(200);
      const [received] = await shadowServer.waitFor(1);
      expect(received!.body.equals(gz)).toBe(true);
      expect(received!.headers['content-encoding']).toBe('gzip');
      expect(seen).toEqual([json]);
      await shadow.close();
      const [production] = recordsOfType(await readRecords(logFile), 'production');
      expect(production!.request.body).toEqual(json);
    });

    it('mirrors a multipart upload byte for byte with multer behind it', async () => {
      const { shadowServer, shadow } = await setup();
      const app = framework.lib();
      const upload = multer({ storage: multer.memoryStorage() });
      const files: { name: string; size: number }[] = [];
      app.use(shadow);
      app.post('/upload', upload.single('file'), (req, res) => {
        files.push({ name: req.file!.originalname, size: req.file!.size });
        res.json({ field: req.body.note });
      });
      const content = Buffer.alloc(50_000, 7);
      const response = await request(app).post('/upload').field('note', 'hi').attach('file', content, 'model-input.bin').expect(200);
      expect(response.body).toEqual({ field: 'hi' });
      expect(files).toEqual([{ name: 'model-input.bin', size: 50_000 }]);
      const [received] = await shadowServer.waitFor(1);
      expect(received!.headers['content-type']).toMatch(/^multipart\/form-data; boundary=/);
      expect(received!.body.length).toBe(Number(received!.headers['content-length']));
      expect(received!.body.includes(content)).toBe(true);
      expect(received!.body.toString('latin1')).toContain('name="note"');
    });

    it('re-serialises req.body when mounted after a parser and says so (bodySource "parsed")', async () => {
      const { shadowServer, logFile, shadow } = await setup();
      const { app, seen } = parserApp(framework.lib, shadow, express.json(), 'after');
      await request(app).post('/predict').set('content-type', 'application/json').send('{ "text" :  "spaced" }').expect(200);
      const [received] = await shadowServer.waitFor(1);
      expect(received!.body.toString()).toBe('{"text":"spaced"}');
      expect(received!.headers['content-length']).toBe('17');
      expect(seen).toEqual([{ text: 'spaced' }]);
      await shadow.close();
      const [production] = recordsOfType(await readRecords(logFile), 'production');
      expect(production!.request.bodySource).toBe('parsed');
    });
  });
}

describe('the shadow request', () => {
  it('repeats method, path and query on the target with a base path, strips hop-by-hop and credential headers, and adds the id', async () => {
    const shadowServer = await startShadowServer();
    const logFile = await tempLogFile();
    const shadow = shadowMiddleware({ target: `${shadowServer.url}/v2/`, logFile });
    cleanups.push(() => shadowServer.close(), () => shadow.close());
    const app = express();
    app.use(shadow);
    app.put('/predict', (_req, res) => res.status(201).send('ok'));
    await request(app)
      .put('/predict?x=1&y=%20')
      .set('authorization', 'Bearer secret')
      .set('cookie', 'session=1')
      .set('x-api-key', 'k')
      .set('connection', 'keep-alive, x-hop')
      .set('x-hop', 'dropped')
      .set('keep-alive', 'timeout=5')
      .set('upgrade', 'h2c')
      .set('te', 'trailers')
      .set('proxy-authorization', 'Basic x')
      .set('traceparent', '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01')
      .set('x-custom', 'kept')
      .set('x-request-id', 'client-id-1')
      .send('payload')
      .expect(201);
    const [received] = await shadowServer.waitFor(1);
    expect(received!.method).toBe('PUT');
    expect(received!.url).toBe('/v2/predict?x=1&y=%20');
    expect(received!.headers.host).toBe(`127.0.0.1:${shadowServer.port}`);
    expect(received!.headers['x-custom']).toBe('kept');
    expect(received!.headers['x-shadow-request']).toBe('1');
    for (const name of ['authorization', 'cookie', 'x-api-key', 'x-hop', 'keep-alive', 'upgrade', 'te', 'proxy-authorization', 'traceparent']) {
      expect(received!.headers[name], name).toBeUndefined();
    }
    expect(received!.body.toString()).toBe('payload');
    await shadow.close();
    // The shadow gets the id of the records (unique, ours); the client's id is logged beside it.
    const [production] = recordsOfType(await readRecords(logFile), 'production');
    expect(received!.headers['x-request-id']).toBe(production!.requestId);
    expect(production!.clientRequestId).toBe('client-id-1');
    expect(production!.request.headers.authorization).toBe('[REDACTED]');
    expect(production!.request.headers.cookie).toBe('[REDACTED]');
  });

  it('never retries: a PUT answered 503 and a DELETE whose connection is reset each reach the shadow once', async () => {
    const shadowServer = await startShadowServer((req, res) => {
      if (req.method === 'PUT') res.writeHead(503).end('busy');
      else res.socket?.destroy();
    });
    const logFile = await tempLogFile();
    const shadow = shadowMiddleware({ target: shadowServer.url, logFile });
    cleanups.push(() => shadowServer.close(), () => shadow.close());
    const app = express();
    app.use(shadow);
    app.all('/item', (_req, res) => res.send('ok'));
    await request(app).put('/item').send('v').expect(200);
    await request(app).delete('/item').expect(200);
    await shadowServer.waitFor(2);
    await shadow.close();
    expect(shadowServer.received.map((r) => r.method).sort()).toEqual(['DELETE', 'PUT']);
    const shadows = recordsOfType(await readRecords(logFile), 'shadow');
    expect(shadows.map((r) => r.status ?? r.error?.code).sort()).toEqual([503, 'ECONNRESET'].sort());
  });

  it('forwards credentials when forwardCredentials is true', async () => {
    const shadowServer = await startShadowServer();
    const shadow = shadowMiddleware({ target: shadowServer.url, logFile: await tempLogFile(), forwardCredentials: true });
    cleanups.push(() => shadowServer.close(), () => shadow.close());
    const app = express();
    app.use(shadow);
    app.get('/p', (_req, res) => res.send('ok'));
    await request(app).get('/p').set('authorization', 'Bearer secret').set('cookie', 'a=b').expect(200);
    const [received] = await shadowServer.waitFor(1);
    expect(received!.headers.authorization).toBe('Bearer secret');
    expect(received!.headers.cookie).toBe('a=b');
  });

  it('keeps the mount prefix of a router (req.originalUrl)', async () => {
    const { shadowServer, shadow } = await setup();
    const app = express();
    const router = express.Router();
    router.post('/predict', shadow, (_req, res) => res.send('ok'));
    app.use('/api/v1', router);
    await request(app).post('/api/v1/predict?q=1').send({ a: 1 }).expect(200);
    const [received] = await shadowServer.waitFor(1);
    expect(received!.url).toBe('/api/v1/predict?q=1');
  });
});

describe('correlated records', () => {
  it('writes one production and one shadow record per request, paired one to one over 200 concurrent requests', async () => {
    const { shadowServer, logFile, shadow } = await setup();
    const app = express();
    app.use(shadow);
    app.use(express.json());
    const idsSeenByHandler: string[] = [];
    app.post('/predict', (req, res) => {
      idsSeenByHandler.push(shadowRequestId(req));
      res.json({ echo: req.body.i });
    });
    const server = app.listen(0, '127.0.0.1');
    cleanups.push(() => new Promise((resolve) => server.close(() => resolve())));
    await new Promise((resolve) => server.once('listening', resolve));
    const agent = request(server);
    const responses = await Promise.all(Array.from({ length: 200 }, (_, i) => agent.post('/predict').send({ i })));
    expect(responses.every((r, i) => r.status === 200 && r.body.echo === i)).toBe(true);
    await shadowServer.waitFor(200);
    await shadow.close();
    const records = await readRecords(logFile);
    const production = recordsOfType(records, 'production');
    const shadows = recordsOfType(records, 'shadow');
    expect(production).toHaveLength(200);
    expect(shadows).toHaveLength(200);
    const productionIds = new Set(production.map((r) => r.requestId));
    expect(productionIds.size).toBe(200);
    expect(new Set(shadows.map((r) => r.requestId))).toEqual(productionIds);
    expect(new Set(idsSeenByHandler)).toEqual(productionIds);
    // uuid v7: version nibble 7.
    expect([...productionIds].every((id) => /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(id))).toBe(true);
    const byId = new Map(production.map((r) => [r.requestId, r]));
    for (const record of shadows) {
      expect(record.status).toBe(200);
      expect(byId.get(record.requestId)!.response.body).toEqual({ echo: (byId.get(record.requestId)!.request.body as { i: number }).i });
    }
  });

  it('does not compare bodies field by field when the shadow answered with another status', async () => {
    const shadowServer = await startShadowServer((_req, res) => res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":"model crashed"}'));
    const logFile = await tempLogFile();
    const shadow = shadowMiddleware({ target: shadowServer.url, logFile });
    cleanups.push(() => shadowServer.close(), () => shadow.close());
    const app = express();
    app.use(shadow);
    app.get('/p', (_req, res) => res.json({ label: 'positive' }));
    await request(app).get('/p').expect(200);
    await shadowServer.waitFor(1);
    await shadow.close();
    const [comparison] = recordsOfType(await readRecords(logFile), 'comparison');
    expect(comparison).toMatchObject({ statusMatch: false, match: false, differences: [] });
  });

  it('logs only the headers logHeaders names, or none', async () => {
    const shadowServer = await startShadowServer();
    const someFile = await tempLogFile();
    const noneFile = await tempLogFile();
    const some = shadowMiddleware({ target: shadowServer.url, logFile: someFile, logHeaders: ['Content-Type', 'authorization'] });
    const none = shadowMiddleware({ target: shadowServer.url, logFile: noneFile, logHeaders: false });
    cleanups.push(() => shadowServer.close(), () => some.close(), () => none.close());
    const app = express();
    app.use(some, none);
    app.post('/p', express.json(), (_req, res) => res.json({ ok: true }));
    await request(app).post('/p').set('authorization', 'Bearer x').set('x-other', '1').send({ a: 1 }).expect(200);
    await shadowServer.waitFor(2);
    await Promise.all([some.close(), none.close()]);
    const [someProduction] = recordsOfType(await readRecords(someFile), 'production');
    expect(someProduction!.request.headers).toEqual({ 'content-type': 'application/json', authorization: '[REDACTED]' });
    expect(someProduction!.response.headers).toEqual({ 'content-type': 'application/json; charset=utf-8' });
    const noneRecords = await readRecords(noneFile);
    expect(recordsOfType(noneRecords, 'production')[0]!.request.headers).toEqual({});
    expect(recordsOfType(noneRecords, 'shadow')[0]!.response!.headers).toEqual({});
  });

  it('has every record on disk when close() resolves', async () => {
    const shadowServer = await startShadowServer();
    const logFile = path.join(await tempDir(), 'shadow.log');
    const shadow = shadowMiddleware({ target: shadowServer.url, logFile });
    cleanups.push(() => shadowServer.close(), () => shadow.close());
    const app = express();
    app.use(shadow);
    app.get('/p', (_req, res) => res.send('ok'));
    await Promise.all(Array.from({ length: 50 }, () => request(app).get('/p').expect(200)));
    await shadowServer.waitFor(50);
    await shadow.close();
    const records = await readRecords(logFile);
    expect(recordsOfType(records, 'production')).toHaveLength(50);
    expect(recordsOfType(records, 'shadow')).toHaveLength(50);
  });

  it('replaces an invalid x-request-id and never echoes it', async () => {
    const { shadowServer, logFile, shadow } = await setup();
    const app = express();
    app.use(shadow);
    app.get('/p', (_req, res) => res.send('ok'));
    const bad = ['a'.repeat(10_000), 'id with spaces', 'quote"id', 'ünïcode', 'a'.repeat(129)];
    for (const id of bad) await request(app).get('/p').set('x-request-id', id).expect(200);
    const received = await shadowServer.waitFor(bad.length);
    await shadow.close();
    const ids = recordsOfType(await readRecords(logFile), 'production').map((r) => r.requestId);
    expect(ids).toHaveLength(bad.length);
    for (const id of ids) expect(bad).not.toContain(id);
    for (const r of received) expect(bad).not.toContain(r.headers['x-request-id']);
    expect(recordsOfType(await readRecords(logFile), 'production').every((r) => r.clientRequestId === undefined)).toBe(true);
  });

  it('keys records by an id of its own, so two clients sending the same x-request-id are never joined together', async () => {
    const { shadowServer, logFile, shadow } = await setup();
    const app = express();
    app.use(shadow);
    app.get('/p', (req, res) => res.json({ mine: req.query.who }));
    await request(app).get('/p?who=alice').set('x-request-id', 'same-id').expect(200);
    await request(app).get('/p?who=bob').set('x-request-id', 'same-id').expect(200);
    await shadowServer.waitFor(2);
    await shadow.close();
    const production = recordsOfType(await readRecords(logFile), 'production');
    expect(production.map((r) => r.clientRequestId)).toEqual(['same-id', 'same-id']);
    expect(new Set(production.map((r) => r.requestId)).size).toBe(2);
  });

  it('takes the app\'s own id (requestId option) or another header (requestIdHeader) as the clientRequestId', async () => {
    const { shadowServer, logFile } = await setup();
    const fromApp = shadowMiddleware({ target: shadowServer.url, logFile, requestId: (req) => (req as { id?: string }).id });
    const app = express();
    app.use((req, _res, next) => {
      (req as { id?: string }).id = 'pino-7';
      next();
    });
    app.use(fromApp);
    app.get('/p', (_req, res) => res.send('ok'));
    await request(app).get('/p').set('x-request-id', 'ignored').expect(200);
    await shadowServer.waitFor(1);
    await fromApp.close();
    const otherLog = await tempLogFile();
    const fromHeader = shadowMiddleware({ target: shadowServer.url, logFile: otherLog, requestIdHeader: 'X-Correlation-Id' });
    const app2 = express();
    app2.use(fromHeader);
    app2.get('/p', (_req, res) => res.send('ok'));
    await request(app2).get('/p').set('x-correlation-id', 'corr-1').expect(200);
    await shadowServer.waitFor(2);
    await fromHeader.close();
    expect(recordsOfType(await readRecords(logFile), 'production')[0]!.clientRequestId).toBe('pino-7');
    expect(recordsOfType(await readRecords(otherLog), 'production')[0]!.clientRequestId).toBe('corr-1');
  });
});

describe('an app that changes the request chunks it has read', () => {
  for (const change of [
    { name: 'wipes them (fill(0))', apply: (chunk: Buffer) => chunk.fill(0) },
    { name: 'decodes them in place (XOR)', apply: (chunk: Buffer) => chunk.forEach((byte, i) => (chunk[i] = byte ^ 0x2a)) },
  ]) {
    it(`still mirrors and logs the bytes the client sent when it ${change.name}`, async () => {
      const shadowServer = await startShadowServer();
      const logFile = await tempLogFile();
      const shadow = shadowMiddleware({ target: shadowServer.url, logFile, engine: 'worker' });
      const app = express();
      app.use(shadow);
      app.post('/predict', (req, res) => {
        let bytes = 0;
        req.on('data', (chunk: Buffer) => {
          bytes += chunk.length;
          change.apply(chunk);
        });
        req.on('end', () => res.json({ bytes }));
      });
      const server = await serve(app);
      cleanups.push(() => server.close(), () => shadow.close(), () => shadowServer.close());
      const body = JSON.stringify({ text: 'é'.repeat(3000), n: 42 });
      const answer = await sendRaw(server.url, { method: 'POST', path: '/predict', headers: { 'content-type': 'application/json' }, body });
      expect(JSON.parse(answer.body.toString())).toEqual({ bytes: Buffer.byteLength(body) });
      const [received] = await shadowServer.waitFor(1);
      expect(received!.body.toString()).toBe(body);
      await shadow.close();
      const [production] = recordsOfType(await readRecords(logFile), 'production');
      expect(production!.request.body).toEqual(JSON.parse(body));
    });
  }
});
