/**
 * Issue 12, items 1–13: what a hostile client, an ordinary app or an unlucky shadow does must never mirror
 * something other than what production got, stop mirroring, lose records or change production. Real servers on
 * 127.0.0.1, raw sockets for what no HTTP client sends, both engine modes where the engine does the work.
 */
import { once } from 'node:events';
import { writeFile } from 'node:fs/promises';
import http from 'node:http';
import express from 'express';
import express4 from 'express4';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { shadowRequestId, type ShadowLogRecord, type ShadowOptions, type ShadowSettings } from '../lib/index.js';
import { ShadowPipeline } from '../lib/engine/pipeline.js';
import type { RecordSink } from '../lib/engine/sink.js';
import { resolveOptions } from '../lib/engine/config.js';
import { readShadowLog, type ShadowLogEntry } from '../lib/report/index.js';
import {
  connectRaw,
  deferred,
  exchangeRaw,
  memoryLog,
  readRecords,
  recordsOfType,
  sendRaw,
  serve,
  startBlackHoleServer,
  startRawUpload,
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
  expect(unhandled.reasons).toEqual([]);
});

/** The two ways the engine runs: records read from a winston logger in-thread, or from the worker's log file. */
const engines = [
  {
    name: 'in-thread',
    async setup() {
      const log = memoryLog();
      return {
        options: { logger: log.logger } as Partial<ShadowSettings>,
        records: async (shadow: { whenIdle(): Promise<void> }) => {
          await shadow.whenIdle();
          return log.records;
        },
      };
    },
  },
  {
    name: 'worker',
    async setup() {
      const logFile = await tempLogFile();
      return {
        options: { logFile, engine: 'worker' } as Partial<ShadowSettings>,
        records: async (shadow: { whenIdle(): Promise<void> }) => {
          await shadow.whenIdle();
          return readRecords(logFile);
        },
      };
    },
  },
];

const frameworks = [
  { name: 'Express 5', lib: express },
  { name: 'Express 4', lib: express4 as unknown as typeof express },
];

const withoutDate = (raw: string) => raw.replace(/^Date: .*\r\n/im, '');

describe('1. partial bodies are never mirrored as complete', () => {
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

describe('2. the shadow gets the request as it reached the middleware', () => {
  for (const framework of frameworks) {
    it(`sends the original method and path when a later middleware rewrites req.method, req.url and req.originalUrl (${framework.name})`, async () => {
      const shadowServer = closeLater(await startShadowServer());
      const log = memoryLog();
      const shadow = mirror({ target: shadowServer.url, logger: log.logger });
      const app = framework.lib();
      app.use(shadow);
      // method-override and a rewriting router, after ours.
      app.use((req, _res, next) => {
        req.method = 'DELETE';
        req.url = '/rewritten/items/7';
        req.originalUrl = '/rewritten/items/7';
        next();
      });
      app.use((_req, res) => res.json({ ok: true }));
      const server = closeLater(await serve(app));
      await sendRaw(server.url, { method: 'POST', path: '/items/7?_method=DELETE', body: '{}', headers: { 'content-type': 'application/json' } });
      const [received] = await shadowServer.waitFor(1);
      expect({ method: received!.method, url: received!.url }).toEqual({ method: 'POST', url: '/items/7?_method=DELETE' });
      const [production] = await log.waitFor('production');
      expect({ method: production!.method, path: production!.path }).toEqual({ method: 'POST', path: '/items/7?_method=DELETE' });
    });
  }
});

describe('3. the raw request target', () => {
  it('sends { } " < > backtick, .. and %2e%2e inside the path, and a backslash, exactly as received, below the base path', async () => {
    const shadowServer = closeLater(await startShadowServer());
    const log = memoryLog();
    const shadow = mirror({ target: `${shadowServer.url}/base`, logger: log.logger });
    const server = closeLater(await serve((req, res) => shadow(req, res, () => res.end('ok'))));
    const targets = ['/a/{b}/c', '/a/"q"', '/a/<x>', '/a/`t`', '/a/b/../c', '/a/b/%2e%2e/c', '/a\\b', '/a/%7B%7D?x={"y":"<z>"}'];
    for (const target of targets) {
      const answer = await exchangeRaw(server.port, `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
      expect(answer).toMatch(/^HTTP\/1.1 200/);
    }
    const received = await shadowServer.waitFor(targets.length);
    expect(received.map((r) => r.url)).toEqual(targets.map((t) => `/base${t}`));
    await shadow.close();
    expect(recordsOfType(log.records, 'skipped')).toEqual([]);
  });
});

describe('4. res.locals', () => {
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

describe('5. buffers the app reuses', () => {
  for (const engine of engines) {
    it(`logs what was sent, not what the app later wrote into its buffer, and reports no false mismatch (${engine.name})`, async () => {
      const answer = '{"label":"positive","score":0.9}';
      const shadowServer = closeLater(
        await startShadowServer((_req, res) => {
          res.setHeader('content-type', 'application/json');
          res.end(answer);
        }),
      );
      const { options, records } = await engine.setup();
      const shadow = mirror({ target: shadowServer.url, ...options } as ShadowOptions);
      const app = await startApp(shadow, (_req, res) => {
        const buffer = Buffer.from(answer);
        res.setHeader('content-type', 'application/json');
        res.setHeader('content-length', buffer.length);
        res.write(buffer, () => {
          // Legal once the callback ran: the buffer is the app's again.
          buffer.fill(0x78);
          res.end();
        });
      });
      const response = await sendRaw(app.url, { method: 'GET', path: '/predict' });
      expect(response.body.toString()).toBe(answer);
      await shadowServer.waitFor(1);
      const all = await records(shadow);
      const [production] = recordsOfType(all, 'production');
      expect(production!.response.body).toEqual(JSON.parse(answer));
      expect(recordsOfType(all, 'comparison')[0]).toMatchObject({ match: true });
    });
  }
});

describe('6. framing', () => {
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

describe('7. client-caused failures never open the breaker', () => {
  for (const engine of engines) {
    it(`mirrors HEAD/GET with content-length: 0; GET with a body and oversized headers get their own codes, and five of them leave the breaker closed (${engine.name})`, async () => {
      const shadowServer = closeLater(await startShadowServer());
      const { options, records } = await engine.setup();
      const shadow = mirror({ target: shadowServer.url, breaker: { failureThreshold: 2, cooldownMs: 60_000 }, compare: false, ...options } as ShadowOptions);
      const app = await startApp(shadow, (_req, res) => {
        res.json({ ok: true });
      });
      const raw = (method: string, path: string, headers: string, body = '') =>
        exchangeRaw(app.port, `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${headers}Connection: close\r\n\r\n${body}`);
      expect(await raw('HEAD', '/head', 'Content-Length: 0\r\n')).toMatch(/^HTTP\/1.1 200/);
      expect(await raw('GET', '/get', 'Content-Length: 0\r\n')).toMatch(/^HTTP\/1.1 200/);
      const received = await shadowServer.waitFor(2);
      expect(received.map((r) => `${r.method} ${r.url}`).sort()).toEqual(['GET /get', 'HEAD /head']);
      // Close to Node's 16 KiB header limit: accepted by production, over it once our headers are added.
      const nearLimit = `X-Big: ${'b'.repeat(16 * 1024 - 120)}\r\n`;
      for (let i = 0; i < 5; i++) {
        expect(await raw('GET', `/body-${i}`, 'Content-Length: 5\r\n', 'hello')).toMatch(/^HTTP\/1.1 200/);
        expect(await raw('GET', `/big-${i}`, nearLimit)).toMatch(/^HTTP\/1.1 200/);
      }
      await sendRaw(app.url, { method: 'GET', path: '/good' });
      await shadowServer.waitFor(3);
      const all = await records(shadow);
      const production = new Map(recordsOfType(all, 'production').map((r) => [r.requestId, r.path]));
      const codes = recordsOfType(all, 'shadow').map((r) => `${production.get(r.requestId)?.replace(/-\d$/, '')} ${r.error?.code ?? r.status}`);
      // A GET with a body is the client's habit, not the shadow's fault: mirrored as it came, or recorded as request_error.
      expect(codes.filter((c) => c.startsWith('/body') && c !== '/body 200' && c !== '/body request_error')).toEqual([]);
      expect(codes.filter((c) => c.startsWith('/body'))).toHaveLength(5);
      expect(codes.filter((c) => c.startsWith('/big'))).toEqual(Array(5).fill('/big request_headers_too_large'));
      expect(codes).toContain('/good 200');
      expect(recordsOfType(all, 'breaker')).toEqual([]);
      expect(shadow.stats().breakers).toEqual({ [Object.keys(shadow.stats().breakers)[0]!]: 'closed' });
    });
  }
});

describe('8. a failed probe always releases the half-open breaker', () => {
  it('mirroring resumes after a probe that meets a throwing transformRequest, comparator, isFailure or logger, a 6,000-deep body, or a rejecting target', async () => {
    const log = memoryLog();
    const hits: Record<string, number> = Object.create(null);
    const hit = (fault: string) => (hits[fault] = (hits[fault] ?? 0) + 1);
    let loggerThrows = false;
    const logger = new Proxy(log.logger, {
      get(target, property, receiver) {
        const value = Reflect.get(target, property, receiver) as unknown;
        if (property !== 'log' || typeof value !== 'function') return value;
        return (...args: unknown[]) => {
          if (loggerThrows) throw new Error('disk full');
          return Reflect.apply(value, target, args) as unknown;
        };
      },
    });
    const faultOf = (path: string) => path.slice(1).split('?')[0]!;
    const shadow = mirror({
      name: 'candidate',
      target: async (request) => {
        const fault = faultOf(request.path);
        hit(fault);
        if (fault === 'reject') throw new Error('model unavailable');
        if (fault === 'isfailure') return { status: 299, headers: { 'content-type': 'application/json' }, body: '{}' };
        if (fault === 'compare') return { status: 200, headers: { 'content-type': 'application/json' }, body: '{"fault":"compare"}' };
        return { status: 200, headers: { 'content-type': 'application/json' }, body: '{"label":"positive"}' };
      },
      transformRequest: (request) => {
        if (faultOf(request.path) === 'transform') {
          hit('transform');
          throw new Error('cannot map this request');
        }
        return {};
      },
      compare: (_production, answer) => {
        if ((answer.json as { fault?: string } | undefined)?.fault === 'compare') throw new Error('comparator bug');
        return { match: true, differences: [] };
      },
      breaker: {
        failureThreshold: 1,
        cooldownMs: 10,
        isFailure: (outcome) => {
          if (outcome.status === 299) throw new Error('isFailure bug');
          return outcome.status === undefined || outcome.status >= 500;
        },
      },
      redact: ['$..password'],
      logger: logger as unknown as ShadowOptions['logger'],
    });
    const app = await startApp(shadow, (req, res) => {
      req.resume();
      req.on('end', () => res.json({ label: 'positive' }));
    });
    const deep = '['.repeat(6000) + ']'.repeat(6000);
    const send = async (path: string) => {
      const body = path === '/deep' ? deep : '{"text":"hi","password":"x"}';
      expect((await sendRaw(app.url, { path, body, headers: { 'content-type': 'application/json' } })).status).toBe(200);
      await shadow.whenIdle();
    };
    const state = () => shadow.stats().breakers.candidate;
    for (const fault of ['transform', 'compare', 'deep', 'isfailure', 'reject', 'logger']) {
      await send('/reject');
      expect(state()).toBe('open');
      // Until the cooldown is over requests are left out; the first one after it is the probe that meets the fault.
      const before = hits[fault] ?? 0;
      for (let tries = 0; (hits[fault] ?? 0) === before; tries++) {
        expect(tries, `${fault} never reached as a probe`).toBeLessThan(2000);
        loggerThrows = fault === 'logger';
        await send(`/${fault}`);
        loggerThrows = false;
      }
      for (let tries = 0; state() !== 'closed'; tries++) {
        expect(tries, `mirroring did not resume after a ${fault} probe (breaker ${state()})`).toBeLessThan(2000);
        await send('/good');
      }
    }
  });
});

describe('8. the pipeline settles every admission', () => {
  it('a probe admitted for a request the engine then fails on is released, and the next request closes the breaker', async () => {
    const failing = { value: true };
    const config = resolveOptions({
      name: 'candidate',
      target: async () => {
        if (failing.value) throw new Error('model unavailable');
        return { status: 200, headers: { 'content-type': 'application/json' }, body: '{}' };
      },
      breaker: { failureThreshold: 1, cooldownMs: 1 },
      compare: false,
    });
    const records: ShadowLogRecord[] = [];
    const sink = {
      write: (record: ShadowLogRecord) => void records.push(record),
      reopen() {},
      flush: async () => {},
      close: async () => {},
      stats: () => ({}) as ReturnType<RecordSink['stats']>,
    };
    const pipeline = new ShadowPipeline(config, sink, { settled() {}, breaker() {} });
    cleanups.push(() => pipeline.drain(0));
    let n = 0;
    const exchange = (chunks: unknown[] = []) => ({
      requestId: `r${++n}`,
      method: 'GET',
      path: '/p',
      headers: {},
      route: null,
      body: undefined,
      bodySource: 'none' as const,
      status: 200,
      responseHeaders: {},
      response: { chunks: chunks as Uint8Array[], bytes: 0, truncated: false, ttfbMs: undefined, writes: 0 },
      durationMs: 1,
      targets: ['candidate'],
      heldBytes: 0,
      handedOffAt: Date.now(),
    });
    const breaker = () => pipeline.stats().breakers.candidate;
    pipeline.accept(exchange());
    await pipeline.whenIdle();
    expect(breaker()).toBe('open');
    const cooldown = Date.now() + 2;
    while (Date.now() < cooldown) await new Promise((resolve) => setImmediate(resolve));
    // Admitted as the probe, then the engine fails on it (production's chunks are not bytes).
    pipeline.accept(exchange(['not bytes', 'either']));
    await pipeline.whenIdle();
    expect(records.at(-1)).toMatchObject({ type: 'skipped', reason: 'engine_error', requestId: `r${n}` });
    failing.value = false;
    pipeline.accept(exchange());
    await pipeline.whenIdle();
    expect(records.at(-1)).toMatchObject({ type: 'shadow', requestId: `r${n}`, status: 200 });
    expect(breaker()).toBe('closed');
  });
});

describe('9. deeply nested JSON', () => {
  for (const engine of engines) {
    it(`writes the production, shadow and comparison records of 100,000-deep request and response bodies, with a marker (${engine.name})`, async () => {
      const deep = '['.repeat(100_000) + ']'.repeat(100_000);
      const shadowServer = closeLater(
        await startShadowServer((_req, res) => {
          res.setHeader('content-type', 'application/json');
          res.end(deep);
        }),
      );
      const { options, records } = await engine.setup();
      const shadow = mirror({ target: shadowServer.url, maxLoggedBodyBytes: 1_048_576, ...options } as ShadowOptions);
      const app = await startApp(shadow, (req, res) => {
        req.resume();
        req.on('end', () => res.type('application/json').send(deep));
      });
      await sendRaw(app.url, { path: '/deep', body: deep, headers: { 'content-type': 'application/json' } });
      await shadowServer.waitFor(1);
      const all = await records(shadow);
      const byType = (type: ShadowLogRecord['type']) => all.filter((r) => r.type === type);
      for (const type of ['production', 'shadow', 'comparison'] as const) expect(byType(type), type).toHaveLength(1);
      expect(JSON.stringify(byType('production')[0])).toContain('[nested too deep to log]');
      expect(JSON.stringify(byType('shadow')[0])).toContain('[nested too deep to log]');
    });
  }
});

describe('10. a shadow call that never completes frees its slot', () => {
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

describe('11. long-lived streams cannot take the byte budget', () => {
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

describe('13. queue wait and the reader join window agree', () => {
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
