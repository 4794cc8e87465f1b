/**
 * Protecting production: bounded work, choosing what to mirror, the circuit breaker, runtime control and drain.
 * Every server is real and listens on 127.0.0.1; shadows that must hold calls in flight are released by the test.
 */
import http from 'node:http';
import express from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import { ShadowOptionsError, type ShadowMiddleware, type ShadowOptions } from '../lib/index.js';
import {
  byteCountingHandler,
  deferred,
  listen,
  memoryLog,
  readRecords,
  recordsOfType,
  refusedUrl,
  sendRaw,
  startBlackHoleServer,
  startHeldShadowServer,
  startRawUpload,
  startShadowServer,
  tempLogFile,
  testScope,
  type MemoryLog,
} from './helpers.js';

const { cleanups, closeLater, mirror, startApp, cleanUp } = testScope();
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


const total = (counts: Record<string, number>) => Object.values(counts).reduce((sum, n) => sum + n, 0);

/**
 * Resolves once every request seen has been left out, skipped, or mirrored with its shadow record written.
 * (Only for tests without mirrorIf: a production_status decision writes no record to wake this up.)
 */
function allAnswered(shadow: ShadowMiddleware, log: MemoryLog): Promise<void> {
  return log.waitUntil((records) => {
    const stats = shadow.stats();
    const accepted = recordsOfType(records, 'production').length;
    return (
      accepted + recordsOfType(records, 'skipped').length + total(stats.notMirrored) === stats.seen &&
      recordsOfType(records, 'shadow').length === accepted
    );
  });
}

/** For a state no event announces (requests waiting in the queue): checks again on every turn of the event loop. */
async function until(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((resolve) => setImmediate(resolve));
}

/** Requests mirrored or shed so far (shed ones get no record of their own). */
function handedOffOrShed(shadow: ShadowMiddleware): number {
  const stats = shadow.stats();
  return stats.mirrored + (stats.skipped.queue_full ?? 0);
}

/** The breaker's cooldown is the feature under test: wait it out on a timer. */
const afterCooldown = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Sends `count` requests over a few keep-alive connections. */
async function sendMany(url: string, count: number, requestFor: (i: number) => { path: string; headers?: http.OutgoingHttpHeaders }) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  try {
    const statuses = await Promise.all(
      Array.from(
        { length: count },
        (_, i) =>
          new Promise<number>((resolve, reject) => {
            const { path, headers } = requestFor(i);
            http
              .get(url + path, { agent, headers }, (res) => {
                res.resume();
                res.on('end', () => resolve(res.statusCode ?? 0));
              })
              .on('error', reject);
          }),
      ),
    );
    return statuses;
  } finally {
    agent.destroy();
  }
}

describe('bounded work', () => {
  it('keeps at most maxConcurrent calls in flight and sends the queued ones in arrival order', async () => {
    const held = closeLater(await startHeldShadowServer());
    const log = memoryLog();
    const shadow = mirror({ target: held.url, logger: log.logger, maxConcurrent: 2 });
    const app = await startApp(shadow);
    for (let i = 0; i < 5; i++) {
      expect((await sendRaw(app.url, { method: 'GET', path: `/p?i=${i}` })).status).toBe(200);
      await log.waitFor('production', i + 1);
    }
    const firstTwo = await held.waitFor(2);
    expect(firstTwo.map((r) => r.url).sort()).toEqual(['/p?i=0', '/p?i=1']);
    expect(shadow.stats()).toMatchObject({ mirrored: 5, inFlight: 2, queued: 3 });

    held.releaseOne();
    expect((await held.waitFor(3))[2]!.url).toBe('/p?i=2');
    held.releaseOne();
    expect((await held.waitFor(4))[3]!.url).toBe('/p?i=3');
    held.releaseAll();
    expect((await held.waitFor(5))[4]!.url).toBe('/p?i=4');
    await log.waitFor('shadow', 5);
    expect(shadow.stats()).toMatchObject({ inFlight: 0, queued: 0, queuedBytes: 0, succeeded: 5 });
  });

  it('sheds requests past maxQueue as queue_full: counted in stats and in the summary with sample ids, no record each, while production answers all of them', async () => {
    const held = closeLater(await startHeldShadowServer());
    const log = memoryLog();
    const shadow = mirror({ target: held.url, logger: log.logger, maxConcurrent: 1, maxQueue: 2 });
    const app = await startApp(shadow);
    for (let i = 0; i < 5; i++) {
      const response = await sendRaw(app.url, { method: 'GET', path: `/p?i=${i}` });
      expect(response.status).toBe(200);
      expect(JSON.parse(response.body.toString())).toEqual({ label: 'positive', model: 'production' });
      await until(() => handedOffOrShed(shadow) === i + 1);
    }
    expect(shadow.stats()).toMatchObject({ seen: 5, mirrored: 3, inFlight: 1, queued: 2, skipped: { queue_full: 2 } });

    held.releaseAll();
    await shadow.close();
    expect(held.received.map((r) => r.url)).toEqual(['/p?i=0', '/p?i=1', '/p?i=2']);
    expect(recordsOfType(log.records, 'skipped')).toEqual([]);
    const [summary] = recordsOfType(log.records, 'summary');
    expect(summary!.shed).toEqual({ queue_full: 2, sampleRequestIds: [expect.any(String), expect.any(String)] });
    const mirroredIds = new Set(recordsOfType(log.records, 'production').map((r) => r.requestId));
    expect(summary!.shed!.sampleRequestIds.some((id) => mirroredIds.has(id))).toBe(false);
  });

  it('counts bodies still being uploaded against maxQueuedBytes and skips a request that would go over', async () => {
    const shadowServer = closeLater(await startShadowServer());
    const log = memoryLog();
    const shadow = mirror({ target: shadowServer.url, logger: log.logger, maxQueuedBytes: 1000 });
    const upload = byteCountingHandler();
    const app = await startApp(shadow, upload.handler);

    const slow = await startRawUpload(app.port, '/slow', 800, 600);
    await upload.waitForBytes('/slow', 600);
    expect(shadow.stats().queuedBytes).toBe(600);

    const small = await sendRaw(app.url, { path: '/small', headers: { 'content-type': 'application/octet-stream' }, body: Buffer.alloc(500, 0x62) });
    expect(small.body.toString()).toBe('500');
    await until(() => shadow.stats().skipped.queue_full === 1);

    await slow.write(Buffer.alloc(200, 0x61));
    expect((await slow.response).toString()).toMatch(/^HTTP\/1\.1 200 OK[\s\S]*\r\n\r\n800$/);
    const [received] = await shadowServer.waitFor(1);
    expect(received!.url).toBe('/slow');
    expect(received!.body.equals(Buffer.alloc(800, 0x61))).toBe(true);
    await log.waitFor('shadow');
    expect(shadow.stats()).toMatchObject({ mirrored: 1, skipped: { queue_full: 1 }, queuedBytes: 0 });
  });

  it('holds at most maxConcurrent + maxQueue requests while the shadow black-holes traffic', async () => {
    const blackHole = closeLater(await startBlackHoleServer());
    const log = memoryLog();
    const shadow = mirror({ target: blackHole.url, logger: log.logger, maxConcurrent: 2, maxQueue: 3, timeoutMs: 60_000 });
    const app = await startApp(shadow);
    const body = Buffer.alloc(100, 0x63);
    const responses = await Promise.all(Array.from({ length: 20 }, (_, i) => sendRaw(app.url, { path: `/p?i=${i}`, body })));
    expect(responses.every((r) => r.status === 200)).toBe(true);
    await until(() => handedOffOrShed(shadow) === 20);
    await blackHole.waitForConnections(2);

    const stats = shadow.stats();
    expect(stats).toMatchObject({ seen: 20, mirrored: 5, inFlight: 2, queued: 3, skipped: { queue_full: 15 } });
    // Five held bodies of 100 bytes, plus the small production answers kept for comparison.
    expect(stats.queuedBytes).toBeGreaterThanOrEqual(500);
    expect(stats.queuedBytes).toBeLessThan(5 * 200);
    expect(recordsOfType(log.records, 'skipped')).toHaveLength(0);
    expect(blackHole.connections).toBe(2);
  });

  it('leaves no listener behind a finished call: two waves of 40 calls through 32 slots raise no MaxListenersExceededWarning', async () => {
    const warnings: Error[] = [];
    const onWarning = (warning: Error) => warnings.push(warning);
    process.on('warning', onWarning);
    cleanups.push(() => process.off('warning', onWarning));
    const held = closeLater(await startHeldShadowServer());
    const log = memoryLog();
    const shadow = mirror({ target: held.url, logger: log.logger });
    const app = await startApp(shadow);

    for (const wave of [1, 2]) {
      await Promise.all(Array.from({ length: 40 }, (_, i) => sendRaw(app.url, { method: 'GET', path: `/p?wave=${wave}&i=${i}` })));
      await held.waitFor(32 + (wave - 1) * 40);
      expect(shadow.stats()).toMatchObject({ inFlight: 32, queued: 8 });
      held.releaseAll();
      await log.waitFor('shadow', wave * 40);
      held.hold();
    }
    expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning')).toEqual([]);
  });
});

describe('choosing what to mirror', () => {
  it('samples at random by default: about sampleRate of identical requests are mirrored, each decided afresh', async () => {
    const shadowServer = closeLater(await startShadowServer());
    const log = memoryLog();
    const shadow = mirror({ target: shadowServer.url, logger: log.logger, sampleRate: 0.25, compare: false });
    const app = await startApp(shadow);
    const statuses = await sendMany(app.url, 400, () => ({ path: '/same' }));
    expect(statuses.every((s) => s === 200)).toBe(true);
    await allAnswered(shadow, log);
    const { seen, mirrored, notMirrored } = shadow.stats();
    expect(seen).toBe(400);
    // 400 draws at p = 0.25: mean 100, standard deviation 8.7; five of them either side.
    expect(mirrored).toBeGreaterThanOrEqual(57);
    expect(mirrored).toBeLessThanOrEqual(143);
    expect(notMirrored).toEqual({ sampled_out: 400 - mirrored });
    expect(shadowServer.received).toHaveLength(mirrored);
  });

  it('sampleBy keeps each key always in or always out, keeps about sampleRate of the keys, and a higher rate only adds keys', async () => {
    const shadowServer = closeLater(await startShadowServer());
    const log = memoryLog();
    const shadow = mirror({
      target: shadowServer.url,
      logger: log.logger,
      sampleRate: 0.3,
      sampleBy: (req) => String(req.headers['x-user']),
      compare: false,
    });
    const app = await startApp(shadow);
    const users = 400;
    const userOf = (i: number) => ({ path: '/p', headers: { 'x-user': `user-${i % users}` } });
    const mirroredUsers = async () => {
      await allAnswered(shadow, log);
      const perUser = new Map<string, number>();
      for (const r of shadowServer.received.splice(0)) perUser.set(String(r.headers['x-user']), (perUser.get(String(r.headers['x-user'])) ?? 0) + 1);
      return perUser;
    };

    await sendMany(app.url, 2 * users, userOf);
    const firstRound = await mirroredUsers();
    // Both requests of a user were decided the same way.
    expect([...firstRound.values()].every((n) => n === 2)).toBe(true);
    // 400 keys at p = 0.3: mean 120, standard deviation 9.2 (the hash is fixed, so this never flakes).
    expect(firstRound.size).toBeGreaterThanOrEqual(120 - 46);
    expect(firstRound.size).toBeLessThanOrEqual(120 + 46);
    expect(shadow.stats().notMirrored).toEqual({ sampled_out: 2 * users - 2 * firstRound.size });

    shadow.update({ sampleRate: 0.6 });
    const before = shadow.stats().mirrored;
    await sendMany(app.url, users, userOf);
    const secondRound = await mirroredUsers();
    expect(shadow.stats().mirrored - before).toBe(secondRound.size);
    for (const user of firstRound.keys()) expect(secondRound.has(user), user).toBe(true);
    expect(secondRound.size).toBeGreaterThanOrEqual(240 - 50);
    expect(secondRound.size).toBeLessThanOrEqual(240 + 50);
  });

  it('filter leaves a request out before its body is buffered, calls the filter once, and counts it as filtered', async () => {
    const shadowServer = closeLater(await startShadowServer());
    const log = memoryLog();
    const filtered: string[] = [];
    const shadow = mirror({
      target: shadowServer.url,
      logger: log.logger,
      filter: (req) => {
        filtered.push(req.url ?? '');
        return !req.url?.startsWith('/private');
      },
    });
    const upload = byteCountingHandler();
    const app = await startApp(shadow, upload.handler);

    const privateUpload = await startRawUpload(app.port, '/private', 1000, 600);
    await upload.waitForBytes('/private', 600);
    expect(shadow.stats()).toMatchObject({ queuedBytes: 0, notMirrored: { filtered: 1 } });
    await privateUpload.write(Buffer.alloc(400, 0x61));
    expect((await privateUpload.response).toString()).toMatch(/\r\n\r\n1000$/);

    await sendRaw(app.url, { path: '/public', body: 'hello' });
    await log.waitFor('shadow');
    await shadow.close();
    expect(shadowServer.received.map((r) => r.url)).toEqual(['/public']);
    expect(filtered).toEqual(['/private', '/public']);
    expect(recordsOfType(log.records, 'skipped')).toEqual([]);
  });

  it('methods is an allowlist, in any letter case; other methods are counted as method', async () => {
    const shadowServer = closeLater(await startShadowServer());
    const shadow = mirror({ target: shadowServer.url, logFile: await tempLogFile(), methods: ['post'] });
    const app = await startApp(shadow);
    for (const method of ['GET', 'DELETE', 'PUT', 'POST']) expect((await sendRaw(app.url, { method, path: '/p', body: 'x' })).status).toBe(200);
    await shadowServer.waitFor(1);
    await shadow.close();
    expect(shadowServer.received.map((r) => r.method)).toEqual(['POST']);
    expect(shadow.stats().notMirrored).toEqual({ method: 3 });
  });

  it("mirrorIf decides on production's answer: only 2xx answers are mirrored, the rest are counted as production_status", async () => {
    const shadowServer = closeLater(await startShadowServer());
    const logFile = await tempLogFile();
    const shadow = mirror({ target: shadowServer.url, logFile, mirrorIf: (_req, res) => res.statusCode >= 200 && res.statusCode < 300 });
    const app = await startApp(shadow, (req, res) => {
      res.status(req.path === '/ok' ? 200 : req.path === '/missing' ? 404 : 500).json({ path: req.path });
    });
    // The mirrored one last: once it reached the shadow, the earlier decisions have all been taken.
    for (const path of ['/missing', '/broken', '/ok']) await sendRaw(app.url, { method: 'GET', path });
    await shadowServer.waitFor(1);
    await shadow.close();
    expect(shadowServer.received.map((r) => r.url)).toEqual(['/ok']);
    expect(shadow.stats()).toMatchObject({ seen: 3, mirrored: 1, notMirrored: { production_status: 2 }, skipped: {} });
    const records = await readRecords(logFile);
    expect(recordsOfType(records, 'production').map((r) => r.path)).toEqual(['/ok']);
    expect(recordsOfType(records, 'skipped')).toEqual([]);
  });

  it('writes a periodic summary of requests left out on purpose, per reason, and every request seen is accounted for', async () => {
    const shadowServer = closeLater(await startShadowServer());
    const log = memoryLog();
    const shadow = mirror({
      target: shadowServer.url,
      logger: log.logger,
      summaryIntervalMs: 50,
      methods: ['GET', 'POST'],
      filter: (req) => req.url !== '/private',
      mirrorIf: (_req, res) => res.statusCode < 500,
      maxBodyBytes: 10,
    });
    const app = await startApp(shadow, (req, res) => {
      res.status(req.path === '/broken' ? 500 : 200).send('ok');
    });
    await sendRaw(app.url, { method: 'GET', path: '/a' });
    await sendRaw(app.url, { method: 'DELETE', path: '/a' });
    await sendRaw(app.url, { method: 'GET', path: '/private' });
    await sendRaw(app.url, { method: 'GET', path: '/broken' });
    await sendRaw(app.url, { method: 'POST', path: '/big', body: 'more than ten bytes' });
    shadow.update({ sampleRate: 0 });
    await sendRaw(app.url, { method: 'GET', path: '/a' });
    shadow.update({ sampleRate: 1 });
    await sendRaw(app.url, { method: 'GET', path: '/last' });
    await log.waitFor('shadow', 2);
    // The periodic summary comes on its own, before close().
    await log.waitUntil((records) => recordsOfType(records, 'summary').reduce((n, r) => n + r.seen, 0) === 7);
    await shadow.close();

    const summaries = recordsOfType(log.records, 'summary');
    const sum = (pick: (r: (typeof summaries)[number]) => Record<string, number>) => {
      const counts: Record<string, number> = {};
      for (const r of summaries) for (const [k, v] of Object.entries(pick(r))) counts[k] = (counts[k] ?? 0) + v;
      return counts;
    };
    expect(summaries.reduce((n, r) => n + r.mirrored, 0)).toBe(2);
    expect(sum((r) => r.notMirrored)).toEqual({ method: 1, filtered: 1, production_status: 1, sampled_out: 1 });
    expect(summaries.every((r) => r.intervalMs >= 0)).toBe(true);
    // Left out on purpose: counted only. Meant to be mirrored but not: one record each.
    expect(recordsOfType(log.records, 'skipped').map((r) => [r.path, r.reason])).toEqual([['/big', 'body_too_large']]);
    const stats = shadow.stats();
    expect(stats.notMirrored).toEqual({ method: 1, filtered: 1, production_status: 1, sampled_out: 1 });
    expect(stats.seen).toBe(stats.mirrored + total(stats.notMirrored) + total(stats.skipped));
  });

  it('a filter, sampleBy or mirrorIf that throws is caught: production answers as usual and the request is skipped as hook_error', async () => {
    const shadowServer = closeLater(await startShadowServer());
    const logFile = await tempLogFile();
    const shadow = mirror({
      target: shadowServer.url,
      logFile,
      // Below 1, so that sampleBy is asked.
      sampleRate: 0.999,
      filter: (req) => {
        if (req.url === '/filter') throw new Error('filter exploded');
        return true;
      },
      sampleBy: (req) => {
        if (req.url === '/sample') throw new Error('sampleBy exploded');
        return 'always-in';
      },
      mirrorIf: (req) => {
        if (req.url === '/mirror-if') throw new Error('mirrorIf exploded');
        return true;
      },
    });
    const app = await startApp(shadow);
    for (const path of ['/filter', '/sample', '/mirror-if', '/ok']) {
      const response = await sendRaw(app.url, { method: 'GET', path });
      expect(response.status).toBe(200);
      expect(JSON.parse(response.body.toString())).toEqual({ label: 'positive', model: 'production' });
    }
    await shadowServer.waitFor(1);
    await shadow.close();
    const skipped = recordsOfType(await readRecords(logFile), 'skipped');
    expect(skipped.map((r) => [r.path, r.reason])).toEqual([
      ['/filter', 'hook_error'],
      ['/sample', 'hook_error'],
      ['/mirror-if', 'hook_error'],
    ]);
    expect(skipped.map((r) => r.detail)).toEqual([
      expect.stringContaining('filter exploded'),
      expect.stringContaining('sampleBy exploded'),
      expect.stringContaining('mirrorIf exploded'),
    ]);
    expect(shadowServer.received.map((r) => r.url)).toEqual(['/ok']);
    expect(shadow.stats().skipped).toEqual({ hook_error: 3 });
  });
});

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
    await afterCooldown(1050);
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
    await afterCooldown(1050);
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
    await afterCooldown(60);
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
    await afterCooldown(60);
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

describe('runtime control and introspection', () => {
  it('update({ enabled }) and update({ sampleRate }) take effect on the next request, without a restart', async () => {
    const shadowServer = closeLater(await startShadowServer());
    const log = memoryLog();
    const shadow = mirror({ target: shadowServer.url, logger: log.logger });
    const app = await startApp(shadow);
    const get = (path: string) => sendRaw(app.url, { method: 'GET', path });

    await get('/1');
    shadow.update({ enabled: false });
    expect(shadow.stats().enabled).toBe(false);
    await get('/2');
    shadow.update({ enabled: true });
    await get('/3');
    shadow.update({ sampleRate: 0 });
    expect(shadow.stats().sampleRate).toBe(0);
    await get('/4');
    shadow.update({ sampleRate: 1 });
    await get('/5');
    await log.waitFor('shadow', 3);
    expect(shadowServer.received.map((r) => r.url)).toEqual(['/1', '/3', '/5']);
    expect(shadow.stats()).toMatchObject({ enabled: true, sampleRate: 1, seen: 5, mirrored: 3, notMirrored: { disabled: 1, sampled_out: 1 } });
  });

  it('update() rejects bad values and keys it cannot change, and changes nothing then', () => {
    const shadow = mirror({ target: 'http://127.0.0.1:9', logFile: '/dev/null', sampleRate: 0.5 });
    expect(() => shadow.update({ sampleRate: 1.5 })).toThrow(ShadowOptionsError);
    expect(() => shadow.update({ enabled: false, sampleRate: -1 })).toThrow(/sampleRate/);
    expect(() => shadow.update({ enabled: 'no' as unknown as boolean })).toThrow(/enabled/);
    expect(() => shadow.update({ timeoutMs: 1 } as never)).toThrow(/timeoutMs/);
    expect(shadow.stats()).toMatchObject({ enabled: true, sampleRate: 0.5 });
  });

  it('stats() counts seen, mirrored, left out, skipped, succeeded and failed, and gives breaker state and latency percentiles', async () => {
    const shadowServer = closeLater(
      await startShadowServer((req, res) => {
        if (req.url === '/error') {
          res.statusCode = 503;
          res.end();
        } else if (req.url === '/slow') {
          // Far slower than a local call even on a loaded machine: the percentiles below must tell them apart.
          setTimeout(() => res.end('{}'), 500);
        } else res.end('{}');
      }),
    );
    const log = memoryLog();
    const shadow = mirror({ target: shadowServer.url, name: 'candidate', logger: log.logger, methods: ['GET', 'POST'], maxBodyBytes: 10 });
    const app = await startApp(shadow);
    for (let i = 0; i < 8; i++) await sendRaw(app.url, { method: 'GET', path: '/ok' });
    await sendRaw(app.url, { method: 'GET', path: '/slow' });
    await sendRaw(app.url, { method: 'GET', path: '/error' });
    await sendRaw(app.url, { method: 'DELETE', path: '/ok' });
    await sendRaw(app.url, { method: 'POST', path: '/big', body: 'eleven bytes' });
    await log.waitFor('shadow', 10);
    await log.waitFor('skipped');

    const stats = shadow.stats();
    expect(stats).toMatchObject({
      enabled: true,
      sampleRate: 1,
      seen: 12,
      mirrored: 10,
      notMirrored: { method: 1 },
      skipped: { body_too_large: 1 },
      succeeded: 9,
      failed: { status_5xx: 1 },
      inFlight: 0,
      queued: 0,
      queuedBytes: 0,
      breakers: { candidate: 'closed' },
    });
    const { count, p50, p90, p99 } = stats.latencyMs;
    expect(count).toBe(10);
    // Nearest rank over ten calls: p99 is the slowest (the 500 ms one), p50 is one of the fast ones.
    expect(p99).toBeGreaterThanOrEqual(500);
    expect(p50).toBeLessThan(500);
    expect(p50!).toBeLessThanOrEqual(p90!);
    expect(p90!).toBeLessThanOrEqual(p99!);
  });

  it('latency percentiles cover the most recent 1024 calls only: slow calls age out of the window', async () => {
    const timers = new Set<NodeJS.Timeout>();
    cleanups.push(() => timers.forEach(clearTimeout));
    const shadowServer = closeLater(
      await startShadowServer((req, res) => {
        // Slow enough that a fast call on a loaded machine (seen at 1.2 s among 1024 calls) stays well below it.
        if (req.url === '/slow') timers.add(setTimeout(() => res.end('{}'), 3000));
        else res.end('{}');
      }),
    );
    const log = memoryLog();
    const shadow = mirror({ target: shadowServer.url, logger: log.logger, compare: false });
    const app = await startApp(shadow);
    await sendMany(app.url, 20, () => ({ path: '/slow' }));
    await allAnswered(shadow, log);
    const before = shadow.stats().latencyMs;
    expect(before).toMatchObject({ count: 20 });
    expect(before.p50).toBeGreaterThanOrEqual(3000);

    await sendMany(app.url, 1024, () => ({ path: '/fast' }));
    await allAnswered(shadow, log);
    const { count, p99 } = shadow.stats().latencyMs;
    expect(count).toBe(1024);
    expect(p99).toBeLessThan(before.p50!);
  });

  it('stats() counts shadow calls that failed by error code', async () => {
    const log = memoryLog();
    const shadow = mirror({ target: await refusedUrl(), logger: log.logger });
    const app = await startApp(shadow);
    await sendRaw(app.url, { method: 'GET', path: '/a' });
    await sendRaw(app.url, { method: 'GET', path: '/b' });
    await log.waitFor('shadow', 2);
    expect(shadow.stats()).toMatchObject({ mirrored: 2, succeeded: 0, failed: { ECONNREFUSED: 2 } });
    expect(recordsOfType(log.records, 'shadow').map((r) => r.error?.code)).toEqual(['ECONNREFUSED', 'ECONNREFUSED']);
  });
});

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

