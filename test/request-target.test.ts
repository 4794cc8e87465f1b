/**
 * Where the shadow call goes and what it asks for: the method and target as they reached the middleware (whatever a
 * later middleware rewrites), the raw request target kept byte for byte below the base path, and no request target
 * able to pick another host or climb out of the base path. Raw sockets send what no HTTP client would.
 */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { shadowMiddleware } from '../lib/index.js';
import {
  exchangeRaw, frameworks, memoryLog, readRecords, recordsOfType, sendRaw, serve, startShadowServer, tempLogFile,
  testScope
} from './helpers.js';

const { cleanups, closeLater, mirror, cleanUp } = testScope({ failOnUnhandledRejections: true });
afterEach(cleanUp);

describe('the shadow gets the request as it reached the middleware', () => {
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

describe('the raw request target', () => {
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

describe('request targets that try to leave the target', () => {
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

describe('no request can change where the shadow call goes', () => {
  /** Sends a raw request line, so the path reaches the server exactly as written. */
  function rawRequest(port: number, requestLine: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1', () => {
        socket.write(`${requestLine}\r\nHost: example.test\r\nConnection: close\r\n\r\n`);
      });
      let data = '';
      socket.on('data', (chunk) => (data += chunk.toString()));
      socket.on('end', () => resolve(data));
      socket.on('error', reject);
    });
  }

  const cases = [
    ['GET //evil.example/x HTTP/1.1', '/v2//evil.example/x'],
    ['GET /\\evil.example HTTP/1.1', '/v2/\\evil.example'],
    ['GET /%2F%2Fevil.example HTTP/1.1', '/v2/%2F%2Fevil.example'],
    ['GET http://evil.example/x?q=1 HTTP/1.1', '/v2/x?q=1'],
    ['GET ///evil.example/x HTTP/1.1', '/v2///evil.example/x'],
    ['GET /http:/evil.example/x HTTP/1.1', '/v2/http:/evil.example/x'],
  ] as const;

  it('keeps every hostile path on the configured target host', async () => {
    const shadowServer = await startShadowServer();
    // A second server stands in for "evil.example": it must receive nothing.
    const evil = await startShadowServer();
    const shadow = shadowMiddleware({ target: `${shadowServer.url}/v2`, logFile: await tempLogFile() });
    cleanups.push(() => shadowServer.close(), () => evil.close(), () => shadow.close());
    const served = await serve((req, res) => shadow(req, res, () => res.end('ok')));
    cleanups.push(() => served.close());
    for (const [line] of cases) {
      const response = await rawRequest(served.port, line.replace('evil.example', `127.0.0.1:${evil.port}`));
      expect(response).toMatch(/^HTTP\/1\.1 200/);
    }
    const received = await shadowServer.waitFor(cases.length);
    // Mirrored calls may overtake each other on the pool's connections: the paths matter, not their order.
    expect(received.map((r) => r.url).sort()).toEqual(cases.map(([, expected]) => expected.replace('evil.example', `127.0.0.1:${evil.port}`)).sort());
    for (const r of received) expect(r.headers.host).toBe(`127.0.0.1:${shadowServer.port}`);
    expect(evil.received).toHaveLength(0);
  });

  it('does not let dot segments climb out of the base path', async () => {
    const logFile = await tempLogFile();
    const shadowServer = await startShadowServer();
    const shadow = shadowMiddleware({ target: `${shadowServer.url}/v2`, logFile });
    cleanups.push(() => shadowServer.close());
    const served = await serve((req, res) => shadow(req, res, () => res.end('ok')));
    cleanups.push(() => served.close());
    expect(await rawRequest(served.port, 'GET /../admin HTTP/1.1')).toMatch(/^HTTP\/1\.1 200/);
    await shadow.close();
    expect(shadowServer.received).toHaveLength(0);
    const [skipped] = recordsOfType(await readRecords(logFile), 'skipped');
    expect(skipped!.reason).toBe('bad_url');
  });
});
