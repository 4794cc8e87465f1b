/**
 * The engine on its worker thread: one per process, shared by every instance, one descriptor per log file, module
 * hooks, crashes, close() while busy, and shadow DNS kept off the app's threadpool.
 */
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { promises as dns } from 'node:dns';
import { createReadStream, readlinkSync, readdirSync } from 'node:fs';
import express from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import { shadowMiddleware, type ShadowLogRecord, type ShadowMiddleware } from '../lib/index.js';
import { readRecords, recordsOfType, sendRaw, serve, startHeldShadowServer, startShadowServer, tempLogFile, testScope } from './helpers.js';
import { makeFifo } from './log-target-kit.js';

const { closeLater, mirror, startApp, cleanUp } = testScope();
afterEach(cleanUp);

const hooks = new URL('./fixtures/engine-hooks.mjs', import.meta.url).pathname;

/** Descriptors this process holds open on `file`. */
function descriptorsOn(file: string): number {
  return readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`) === file;
    } catch {
      return false;
    }
  }).length;
}

describe.each(['worker', 'in-thread'] as const)('the engine (%s)', (engine) => {
  it('mirrors the exact request bytes and writes production, shadow and comparison records joined by one id', async () => {
    const shadowServer = closeLater(await startShadowServer());
    const logFile = await tempLogFile();
    const shadow = mirror({ target: shadowServer.url, logFile, engine });
    const app = await startApp(shadow);
    const body = Buffer.from('{"text":"héllo","n":[1,2,3]}');
    await sendRaw(app.url, { path: '/predict?x=1', headers: { 'content-type': 'application/json' }, body });
    await shadow.whenIdle();
    expect(shadowServer.received[0]!.body.equals(body)).toBe(true);
    expect(shadowServer.received[0]!.url).toBe('/predict?x=1');
    const records = await readRecords(logFile);
    const ids = new Set(records.map((r) => ('requestId' in r ? r.requestId : undefined)));
    expect(records.map((r) => r.type).sort()).toEqual(['comparison', 'production', 'shadow']);
    expect(ids.size).toBe(1);
    expect(shadow.stats()).toMatchObject({ mirrored: 1, succeeded: 1, engine: { mode: engine, available: true } });
  });
});

describe('one engine worker per process', () => {
  it('50 instances share one log file through one descriptor, and every request has its complete, joined records', async () => {
    const shadowServer = closeLater(await startShadowServer());
    const logFile = await tempLogFile();
    const app = express();
    const instances: ShadowMiddleware[] = [];
    for (let i = 0; i < 50; i++) {
      const shadow = mirror({ target: shadowServer.url, logFile, summaryIntervalMs: 0 });
      instances.push(shadow);
      app.post(`/r${i}`, shadow, (_req, res) => res.json({ label: 'positive', route: i }));
    }
    const server = closeLater(await serve(app));
    await Promise.all(instances.map((_, i) => sendRaw(server.url, { path: `/r${i}`, body: `{"i":${i}}`, headers: { 'content-type': 'application/json' } })));
    await Promise.all(instances.map((shadow) => shadow.whenIdle()));
    expect(descriptorsOn(logFile)).toBe(1);
    const records = await readRecords(logFile);
    const byId = new Map<string, string[]>();
    for (const record of records) if ('requestId' in record) byId.set(record.requestId, [...(byId.get(record.requestId) ?? []), record.type]);
    expect(byId.size).toBe(50);
    for (const types of byId.values()) expect(types.sort()).toEqual(['comparison', 'production', 'shadow']);
    expect(instances.every((shadow) => shadow.stats().engine.mode === 'worker')).toBe(true);
  });

  it('calls a function target given as a module specifier, in the worker', async () => {
    const logFile = await tempLogFile();
    const shadow = mirror({ target: { module: hooks, export: 'echoTarget' }, name: 'echo', logFile });
    const app = await startApp(shadow);
    await sendRaw(app.url, { method: 'GET', path: '/from-module' });
    await shadow.whenIdle();
    const [record] = recordsOfType(await readRecords(logFile), 'shadow');
    expect(record).toMatchObject({ target: 'echo', status: 200, response: { body: { label: 'positive', path: '/from-module' } } });
    expect(shadow.stats().engine.mode).toBe('worker');
  });

  it('survives the worker crashing: one warning, marked unavailable, production unaffected, and the next request starts a new worker', async () => {
    const warnings: Error[] = [];
    const onWarning = (warning: Error) => warnings.push(warning);
    process.on('warning', onWarning);
    try {
      const shadowServer = closeLater(await startShadowServer());
      const logFile = await tempLogFile();
      const shadow = mirror({ target: shadowServer.url, logFile, transformRequest: { module: hooks, export: 'crashEngine' } });
      const app = await startApp(shadow);
      const crashed = once(process, 'warning');
      const answer = await sendRaw(app.url, { method: 'GET', path: '/crash' });
      expect(JSON.parse(answer.body.toString())).toEqual({ label: 'positive', model: 'production' });
      await crashed;
      expect(shadow.stats().engine).toEqual({ mode: 'worker', available: false });
      expect(warnings.filter((w) => (w as { code?: string }).code === 'EXPRESS_SHADOW_ENGINE')).toHaveLength(1);

      await sendRaw(app.url, { method: 'GET', path: '/after' });
      await shadow.whenIdle();
      expect(shadow.stats().engine).toEqual({ mode: 'worker', available: true });
      const received = shadowServer.received.map((r) => r.url);
      expect(received).toContain('/after');
      const productions = recordsOfType(await readRecords(logFile), 'production').map((r) => r.path);
      expect(productions).toContain('/after');
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('close() with the worker busy waits for the calls in flight, then writes their records', async () => {
    const held = closeLater(await startHeldShadowServer());
    const logFile = await tempLogFile();
    const shadow = shadowMiddleware({ target: held.url, logFile });
    const app = await startApp(shadow);
    for (let i = 0; i < 3; i++) await sendRaw(app.url, { method: 'GET', path: `/busy${i}` });
    await held.waitFor(3);
    let closed = false;
    const closing = shadow.close({ timeoutMs: 10_000 }).then(() => (closed = true));
    await new Promise((resolve) => setImmediate(resolve));
    expect(closed).toBe(false);
    held.releaseAll();
    await closing;
    const records = await readRecords(logFile);
    expect(recordsOfType(records, 'shadow').map((r) => r.status)).toEqual([200, 200, 200]);
    expect(recordsOfType(records, 'summary')).toHaveLength(1);
  });
});

describe('a process that ends without close()', () => {
  it('ends on its own once its log has written everything, and loses no record already handed off', async () => {
    // The log is a FIFO nobody reads until the app has run out of work: the worker must keep the process alive.
    const logFile = await makeFifo();
    const script = new URL('./fixtures/mirror-then-end.ts', import.meta.url).pathname;
    const child = spawn(process.execPath, ['--import', 'tsx', script, logFile, 'default', 'natural', '20', '0', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
    const exited = once(child, 'exit');
    await once(child.stdout!, 'data');
    const chunks: Buffer[] = [];
    for await (const chunk of createReadStream(logFile)) chunks.push(chunk as Buffer);
    const [code] = (await exited) as [number];
    expect(code).toBe(0);
    const records = Buffer.concat(chunks)
      .toString('utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as ShadowLogRecord);
    expect(recordsOfType(records, 'production')).toHaveLength(20);
    expect(recordsOfType(records, 'shadow')).toHaveLength(20);
    expect(recordsOfType(records, 'comparison')).toHaveLength(20);
  });
});

describe('shadow DNS', () => {
  it("resolves the shadow's host with its own resolver: a resolver that never answers does not delay the app's own dns.lookup", async () => {
    // A DNS server we control, on loopback, that reads queries and never answers.
    const silent = dgram.createSocket('udp4');
    let queries = 0;
    silent.on('message', () => queries++);
    silent.bind(0, '127.0.0.1');
    await once(silent, 'listening');
    closeLater({ close: () => new Promise<void>((resolve) => silent.close(() => resolve())) });
    const logFile = await tempLogFile();
    const shadow = mirror({ target: 'http://model.shadow.test:9', logFile, dnsServers: [`127.0.0.1:${silent.address().port}`], timeoutMs: 1500, maxConcurrent: 64 });
    const app = express();
    app.use(shadow);
    app.get('/lookup', async (_req, res) => {
      const { address } = await dns.lookup('localhost', { family: 4 });
      res.json({ address });
    });
    const server = closeLater(await serve(app));
    const answers = await Promise.all(Array.from({ length: 40 }, () => sendRaw(server.url, { method: 'GET', path: '/lookup' })));
    expect(answers.map((a) => JSON.parse(a.body.toString()).address)).toEqual(Array(40).fill('127.0.0.1'));
    await shadow.whenIdle();
    expect(queries).toBeGreaterThan(0);
    const shadows = recordsOfType(await readRecords(logFile), 'shadow');
    expect(shadows).toHaveLength(40);
    expect(new Set(shadows.map((r) => r.error?.code))).toEqual(new Set(['timeout']));
  });
});
