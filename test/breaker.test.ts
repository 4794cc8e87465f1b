/**
 * The circuit breaker: opens after failureThreshold consecutive failures, lets one probe through after cooldownMs,
 * closes or reopens on its outcome, counts what it left out; client-caused failures never open it, and a probe that
 * fails on anything of ours always releases it. Cooldowns are waited out until the time the breaker announced.
 */
import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import type { ShadowLogRecord, ShadowOptions } from '../lib/index.js';
import { ShadowPipeline } from '../lib/engine/pipeline.js';
import type { RecordSink } from '../lib/engine/sink-types.js';
import { resolveOptions } from '../lib/engine/config.js';
import {
  clockReaches, deferred, engines, exchangeRaw, memoryLog, recordsOfType, refusedUrl, sendRaw, startBlackHoleServer,
  startShadowServer, testScope, total, type MemoryLog
} from './helpers.js';

const { cleanups, closeLater, mirror, startApp, cleanUp } = testScope({ failOnUnhandledRejections: true });
afterEach(cleanUp);

/** A shadow answering every request with the current `status`. */
async function startStatusShadow(initial: number) {
  const state = { status: initial };
  const server = closeLater(
    await startShadowServer((_req, res) => {
      res.statusCode = state.status;
      res.setHeader('content-type', 'application/json');
      res.end('{"label":"positive"}');
    }),
  );
  return Object.assign(state, { server });
}

/**
 * Waits until the breaker's cooldown is over: `cooldownMs` after the time of its latest `open` record (written once
 * it opened, so never before the time it opened).
 */
async function cooldownOver(log: MemoryLog, cooldownMs: number): Promise<void> {
  const opened = recordsOfType(log.records, 'breaker').filter((r) => r.state === 'open').at(-1);
  expect(opened, 'the breaker has not opened').toBeDefined();
  await clockReaches(Date.parse(opened!.timestamp) + cooldownMs);
}

describe('circuit breaker', () => {
  /** An app behind `shadow`; `call()` sends one GET and waits until it is decided: left out, or mirrored with its shadow record written. */
  async function breakerRig(options: ShadowOptions) {
    const log = memoryLog();
    const shadow = mirror({ ...options, logger: log.logger, compare: false });
    const app = await startApp(shadow);
    let mirrored = 0;
    const call = async (path = '/p'): Promise<'mirrored' | 'left out'> => {
      const leftOutBefore = total(shadow.stats().notMirrored);
      expect((await sendRaw(app.url, { method: 'GET', path })).status).toBe(200);
      if (total(shadow.stats().notMirrored) > leftOutBefore) return 'left out';
      await log.waitFor('shadow', ++mirrored);
      return 'mirrored';
    };
    const transitions = () => recordsOfType(log.records, 'breaker').map((r) => r.state);
    return { log, shadow, app, call, transitions };
  }

  it('opens after failureThreshold consecutive 5xx, stops sending, and logs the change as a breaker record', async () => {
    const target = await startStatusShadow(500);
    const { log, shadow, call } = await breakerRig({ target: target.server.url, name: 'candidate', breaker: { failureThreshold: 3, cooldownMs: 60_000 } });
    for (let i = 0; i < 3; i++) expect(await call()).toBe('mirrored');
    const [opened] = recordsOfType(log.records, 'breaker');
    expect(opened).toMatchObject({ type: 'breaker', target: 'candidate', state: 'open' });
    expect(opened!.reason).toMatch(/3 consecutive failures/);
    for (let i = 0; i < 5; i++) expect(await call()).toBe('left out');
    expect(target.server.received).toHaveLength(3);
    expect(shadow.stats()).toMatchObject({ breakers: { candidate: 'open' }, notMirrored: { breaker_open: 5 }, failed: { status_5xx: 3 }, skipped: {} });
  });

  for (const failing of [
    { name: 'refused connections', code: 'ECONNREFUSED', start: async () => ({ url: await refusedUrl() }) },
    { name: 'timeouts', code: 'timeout', start: async () => closeLater(await startBlackHoleServer()) },
  ]) {
    it(`counts ${failing.name} as failures`, async () => {
      const { url } = await failing.start();
      const { shadow, call, transitions } = await breakerRig({ target: url, timeoutMs: 100, breaker: { failureThreshold: 2, cooldownMs: 60_000 } });
      expect([await call(), await call(), await call()]).toEqual(['mirrored', 'mirrored', 'left out']);
      expect(transitions()).toEqual(['open']);
      expect(shadow.stats().failed).toEqual({ [failing.code]: 2 });
    });
  }

  it('does not count 4xx answers by default, and a custom isFailure can', async () => {
    const target = await startStatusShadow(429);
    const lenient = await breakerRig({ target: target.server.url, breaker: { failureThreshold: 2 } });
    for (let i = 0; i < 4; i++) expect(await lenient.call()).toBe('mirrored');
    expect(lenient.transitions()).toEqual([]);

    const strict = await breakerRig({ target: target.server.url, breaker: { failureThreshold: 2, isFailure: ({ status }) => status === 429 } });
    expect([await strict.call(), await strict.call(), await strict.call()]).toEqual(['mirrored', 'mirrored', 'left out']);
    expect(strict.transitions()).toEqual(['open']);
  });

  it('starts counting again after a success: only consecutive failures open it', async () => {
    const target = await startStatusShadow(500);
    const { call, transitions } = await breakerRig({ target: target.server.url, breaker: { failureThreshold: 3 } });
    await call();
    await call();
    target.status = 200;
    await call();
    target.status = 500;
    await call();
    await call();
    expect(transitions()).toEqual([]);
    await call();
    expect(transitions()).toEqual(['open']);
  });

  it('after cooldownMs lets one probe through (half-open) and closes when it succeeds', async () => {
    const target = await startStatusShadow(500);
    // A cooldown long enough that the next call, even on a loaded machine, comes while the breaker is still open.
    const { shadow, log, call, transitions } = await breakerRig({ target: target.server.url, name: 'candidate', breaker: { failureThreshold: 1, cooldownMs: 1000 } });
    expect(await call()).toBe('mirrored');
    expect(await call()).toBe('left out');
    target.status = 200;
    await cooldownOver(log, 1000);
    expect(await call()).toBe('mirrored');
    expect(transitions()).toEqual(['open', 'half_open', 'closed']);
    expect(recordsOfType(log.records, 'breaker').map((r) => r.target)).toEqual(['candidate', 'candidate', 'candidate']);
    expect(recordsOfType(log.records, 'breaker')[2]!.reason).toMatch(/probe succeeded/);
    expect(await call()).toBe('mirrored');
    expect(shadow.stats().breakers).toEqual({ candidate: 'closed' });
  });

  it('reopens for another cooldown when the probe fails', async () => {
    const target = await startStatusShadow(503);
    const { shadow, log, call, transitions } = await breakerRig({ target: target.server.url, breaker: { failureThreshold: 1, cooldownMs: 1000 } });
    await call();
    await cooldownOver(log, 1000);
    expect(await call()).toBe('mirrored');
    expect(transitions()).toEqual(['open', 'half_open', 'open']);
    expect(recordsOfType(log.records, 'breaker')[2]!.reason).toMatch(/probe failed/);
    expect(await call()).toBe('left out');
    expect(Object.values(shadow.stats().breakers)).toEqual(['open']);
  });

  it('lets a single probe through while it is in flight', async () => {
    const failing = { on: true };
    const parked: http.ServerResponse[] = [];
    const target = closeLater(
      await startShadowServer((_req, res) => {
        if (failing.on) {
          res.statusCode = 500;
          res.end();
        } else parked.push(res);
      }),
    );
    const { call, log, app, transitions } = await breakerRig({ target: target.url, breaker: { failureThreshold: 1, cooldownMs: 50 } });
    await call();
    failing.on = false;
    await cooldownOver(log, 50);
    await sendRaw(app.url, { method: 'GET', path: '/probe' });
    await target.waitFor(2);
    expect(transitions()).toEqual(['open', 'half_open']);
    expect(await call('/while-probing')).toBe('left out');
    expect(await call('/while-probing')).toBe('left out');
    parked.shift()!.end('{}');
    await log.waitFor('shadow', 2);
    expect(transitions()).toEqual(['open', 'half_open', 'closed']);
    expect(target.received.map((r) => r.url)).toEqual(['/p', '/probe']);
  });

  it('does not stay half-open when a request admitted before it opened reaches the shadow after the cooldown', async () => {
    const target = await startStatusShadow(500);
    const log = memoryLog();
    const shadow = mirror({ target: target.server.url, logger: log.logger, compare: false, breaker: { failureThreshold: 1, cooldownMs: 50 } });
    const slowStarted = deferred();
    const finishSlow = deferred();
    const app = await startApp(shadow, (req, res) => {
      if (req.path !== '/slow') {
        res.send('fast');
        return;
      }
      slowStarted.resolve();
      void finishSlow.promise.then(() => res.send('slow'));
    });
    // Admitted while closed; production takes its time.
    const slow = sendRaw(app.url, { method: 'GET', path: '/slow' });
    await slowStarted.promise;
    // Meanwhile the shadow fails and the breaker opens.
    await sendRaw(app.url, { method: 'GET', path: '/fast' });
    await log.waitFor('breaker');
    target.status = 200;
    await cooldownOver(log, 50);
    finishSlow.resolve();
    expect((await slow).body.toString()).toBe('slow');
    await log.waitFor('shadow', 2);
    // The late request went through after the cooldown and succeeded: it counts as the probe.
    await sendRaw(app.url, { method: 'GET', path: '/after' });
    await log.waitFor('shadow', 3);
    expect(target.server.received.map((r) => r.url)).toEqual(['/fast', '/slow', '/after']);
    expect(recordsOfType(log.records, 'breaker').map((r) => r.state)).toEqual(['open', 'half_open', 'closed']);
  });

  it('counts requests left out while open in the summary record instead of logging them one by one', async () => {
    const target = await startStatusShadow(500);
    const { shadow, log, call } = await breakerRig({ target: target.server.url, name: 'candidate', breaker: { failureThreshold: 1, cooldownMs: 60_000 } });
    expect(await call()).toBe('mirrored');
    for (let i = 0; i < 30; i++) expect(await call(`/p${i}`)).toBe('left out');
    await shadow.close();
    expect(log.records.map((r) => r.type).sort()).toEqual(['breaker', 'production', 'shadow', 'summary']);
    expect(recordsOfType(log.records, 'summary')[0]).toMatchObject({ seen: 31, mirrored: 1, notMirrored: { breaker_open: 30 }, breakerOpen: { candidate: 30 } });
  });

  it('breaker.isFailure that throws falls back to the default rule, and the shadow record is still written', async () => {
    const target = await startStatusShadow(500);
    const { shadow, log, call, transitions } = await breakerRig({
      target: target.server.url,
      breaker: {
        failureThreshold: 2,
        isFailure: () => {
          throw new Error('isFailure exploded');
        },
      },
    });
    expect([await call(), await call(), await call()]).toEqual(['mirrored', 'mirrored', 'left out']);
    expect(recordsOfType(log.records, 'shadow').map((r) => r.status)).toEqual([500, 500]);
    expect(transitions()).toEqual(['open']);
    expect(shadow.stats().failed).toEqual({ status_5xx: 2 });
  });
});

describe('client-caused failures never open the breaker', () => {
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

describe('a failed probe always releases the half-open breaker', () => {
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
      // The first request after the cooldown is the probe, and it meets the fault.
      await cooldownOver(log, 10);
      const before = hits[fault] ?? 0;
      loggerThrows = fault === 'logger';
      await send(`/${fault}`);
      loggerThrows = false;
      expect(hits[fault] ?? 0, `${fault} was not reached as the probe`).toBe(before + 1);
      // Mirroring resumes: a released probe leaves the next request to probe, a failed one reopens for a cooldown.
      for (let tries = 0; state() !== 'closed'; tries++) {
        expect(tries, `mirroring did not resume after a ${fault} probe (breaker ${state()})`).toBeLessThan(3);
        if (state() === 'open') await cooldownOver(log, 10);
        await send('/good');
      }
    }
  });
});

describe('the pipeline settles every admission', () => {
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
      hurry() {},
      flush: async () => {},
      close: async () => {},
      stats: () => ({}) as ReturnType<RecordSink['stats']>,
    };
    let reopensAt = 0;
    const pipeline = new ShadowPipeline(config, sink, { settled() {}, breaker: (_target, _state, at) => void (reopensAt = at) });
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
    await clockReaches(reopensAt);
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
