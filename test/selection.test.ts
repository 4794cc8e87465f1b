/**
 * Choosing what to mirror: random sampling, sampleBy, filter, methods and mirrorIf, hooks that throw, and the periodic
 * summary that accounts for every request left out on purpose.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  allAnswered, byteCountingHandler, memoryLog, readRecords, recordsOfType, sendMany, sendRaw, startRawUpload,
  startShadowServer, tempLogFile, testScope, total
} from './helpers.js';

const { closeLater, mirror, startApp, cleanUp } = testScope({ failOnUnhandledRejections: true });
afterEach(cleanUp);

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
