import { chmod, mkdir, readdir, readFile, readlink, rename, rm } from 'node:fs/promises';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { PassThrough } from 'node:stream';
import { setImmediate as nextTick } from 'node:timers/promises';
import pino from 'pino';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { openFileSink } from '../lib/engine/sink.js';
import { checkLogFile } from '../lib/engine/check-log-file.js';
import { ShadowOptionsError, type ShadowLogRecord } from '../lib/index.js';
import { readRecords, recordsOfType, sendRaw, startShadowServer, tempDir, testScope } from './helpers.js';
import { logTargetKit, record, seqsIn } from './log-target-kit.js';

const { closeLater, mirror, startApp, cleanUp, cleanups } = testScope();
afterEach(cleanUp);

const isRoot = process.getuid?.() === 0;
const execFileAsync = promisify(execFile);

const { sink, collectWarnings, fifoWithReader } = logTargetKit(cleanups);

/** Descriptors of this process open on `file` (Linux /proc). */
async function descriptorsOn(file: string): Promise<number> {
  let count = 0;
  for (const fd of await readdir('/proc/self/fd')) {
    const target = await readlink(`/proc/self/fd/${fd}`).catch(() => '');
    if (target === file) count++;
  }
  return count;
}

describe('log file: opening', () => {
  it('creates no file until the first record, neither for the sink nor for the middleware, and writes the line as serialised', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'shadow.log');
    mirror({ target: 'http://127.0.0.1:9', logFile: file });
    const opened = sink(file);
    await nextTick();
    expect(await readdir(dir)).toEqual([]);
    opened.write(record(1));
    await opened.flush();
    // Through winston, yet byte for byte our serialisation: no level, message or timestamp added.
    expect(await readFile(file, 'utf8')).toBe(`${JSON.stringify(record(1))}\n`);
  });

  it('refuses a log file in a missing directory, or a directory, with ShadowOptionsError naming logFile', async () => {
    const dir = await tempDir();
    const missing = path.join(dir, 'nope', 'shadow.log');
    expect(() => mirror({ target: 'http://127.0.0.1:9', logFile: missing })).toThrow(ShadowOptionsError);
    expect(() => checkLogFile(missing)).toThrow(/`logFile` names a file in .*nope.*which does not exist; create the directory first/);
    expect(() => checkLogFile(dir)).toThrow(/`logFile` must name a file, but .* is a directory/);
    try {
      mirror({ target: 'http://127.0.0.1:9', logFile: dir });
      expect.unreachable();
    } catch (error) {
      expect(error).toMatchObject({ name: 'ShadowOptionsError', option: 'logFile', code: 'ERR_SHADOW_OPTIONS' });
    }
    expect(await readdir(dir)).toEqual([]);
  });

  it('shares one descriptor between 50 sinks of one path, and the last close() closes it', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'shadow.log');
    const sinks = Array.from({ length: 50 }, (_, i) => openFileSink(i % 2 ? file : path.join(dir, '.', 'shadow.log'), {}));
    sinks.forEach((s, i) => s.write(record(i)));
    await Promise.all(sinks.map((s) => s.flush()));
    expect(await descriptorsOn(file)).toBe(1);
    for (const s of sinks.slice(1)) await s.close(5000);
    expect(await descriptorsOn(file)).toBe(1);
    sinks[0]!.write(record(50));
    await sinks[0]!.close(5000);
    expect(await descriptorsOn(file)).toBe(0);
    expect((await seqsIn(file)).sort((a, b) => a - b)).toEqual(Array.from({ length: 51 }, (_, i) => i));
  });
});

describe('log file: the bytes of each line', () => {
  it('are the serialisation, in order, whatever the lines\' sizes and characters (lines past the 64 KiB slab, across slabs)', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'shadow.log');
    const opened = sink(file);
    // Sizes around the slab's edges and past it; multi-byte characters (é, 😀) so bytes and characters differ.
    const sizes = [0, 1, 100, 30_000, 40_000, 65_000, 65_536, 70_000, 200_000, 7, 64_000, 1_500, 1_500];
    const written = sizes.map((size, i) => ({ type: 'skipped', requestId: `r${i}`, text: 'é😀x'.repeat(Math.ceil(size / 4)).slice(0, size) }));
    for (const [i, line] of written.entries()) {
      opened.write(line as unknown as ShadowLogRecord);
      // Some lines in the same tick (one batch), some in turns of their own.
      if (i % 3 === 2) await nextTick();
    }
    await opened.flush();
    expect(await readFile(file, 'utf8')).toBe(written.map((line) => `${JSON.stringify(line)}\n`).join(''));
  });
});

describe('log file: gathering lines into fewer writes', () => {
  it('writes a record no one flushes, a moment later', async () => {
    const file = path.join(await tempDir(), 'shadow.log');
    const opened = sink(file);
    opened.write(record(1));
    await vi.waitFor(async () => expect(await readFile(file, 'utf8')).toBe(`${JSON.stringify(record(1))}\n`), { timeout: 10_000, interval: 20 });
  });

  it('writes the lines still gathering before a process that has nothing else to do exits', async () => {
    const file = path.join(await tempDir(), 'shadow.log');
    const sinkModule = pathToFileURL(path.resolve('dist/engine/sink.js')).href;
    // Nothing else keeps this process alive: were the writer's timer unref'd, it would exit with the lines unwritten.
    const script = `const { openFileSink } = await import(${JSON.stringify(sinkModule)});
      const opened = openFileSink(${JSON.stringify(file)});
      for (let i = 1; i <= 3; i++) opened.write({ type: 'skipped', requestId: 'r' + i });`;
    await execFileAsync(process.execPath, ['--input-type=module', '-e', script]);
    const lines = (await readFile(file, 'utf8')).split('\n').filter(Boolean);
    expect(lines.map((line) => (JSON.parse(line) as { requestId: string }).requestId)).toEqual(['r1', 'r2', 'r3']);
  });
});

describe('log file: write errors', () => {
  it('on a full disk (/dev/full): counts every record dropped, warns once, reports failing, and close() resolves', async () => {
    const warnings = collectWarnings('EXPRESS_SHADOW_LOG');
    const full = sink('/dev/full');
    for (let i = 0; i < 200; i++) {
      full.write(record(i));
      if (i % 20 === 19) {
        await full.flush();
        // Opens the path again at once rather than after the backoff: ten failed attempts, still one episode.
        full.reopen();
      }
    }
    await full.flush();
    expect(full.stats()).toMatchObject({ written: 0, dropped: { write_error: 200 }, pendingBytes: 0, failing: true });
    await full.close(1000);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.message).toMatch(/cannot write the log file \/dev\/full \(ENOSPC/);
  });

  it(`when the directory stops accepting the file (${isRoot ? 'removed, as root ignores modes' : 'chmod 0555'}): counts, warns once, and resumes once it accepts again`, async () => {
    const warnings = collectWarnings('EXPRESS_SHADOW_LOG');
    const dir = path.join(await tempDir(), 'logs');
    await mkdir(dir);
    const file = path.join(dir, 'shadow.log');
    const log = sink(file, { retryDelayMs: 5, maxRetryDelayMs: 20 });
    log.write(record(1));
    await log.flush();

    if (isRoot) await rm(dir, { recursive: true });
    else {
      await rename(file, `${file}.1`);
      await chmod(dir, 0o555);
      cleanups.push(() => chmod(dir, 0o755));
    }
    log.reopen();
    log.write(record(2));
    await log.flush();
    expect(log.stats()).toMatchObject({ written: 1, dropped: { write_error: 1 }, failing: true });

    if (isRoot) await mkdir(dir);
    else await chmod(dir, 0o755);
    // Records sent while the retry waits are dropped and counted; the first one after it is written. No event says
    // when the retry timer (5 to 20 ms here) has fired: a record is tried on every turn of the event loop until then.
    let seq = 3;
    while (log.stats().written === 1) {
      log.write(record(seq++));
      await log.flush();
      if (log.stats().written === 1) await nextTick();
    }
    const { written, dropped, failing } = log.stats();
    expect({ written, failing }).toEqual({ written: 2, failing: false });
    expect(dropped.write_error).toBe(seq - 3);
    expect(await seqsIn(file)).toEqual([seq - 1]);
    expect(warnings).toHaveLength(1);
  });

  it('never throws at the caller: a record JSON cannot serialise is counted', async () => {
    const log = sink(path.join(await tempDir(), 'shadow.log'));
    expect(() => log.write({ type: 'summary', big: 1n } as unknown as ShadowLogRecord)).not.toThrow();
    log.write(record(1));
    await log.flush();
    expect(log.stats()).toMatchObject({ written: 1, dropped: { unserialisable: 1 } });
  });

  it('surfaces write errors in the middleware: stats().log, express_shadow_records_dropped_total, and close() resolves', async () => {
    const shadowServer = closeLater(await startShadowServer());
    const shadow = mirror({ target: shadowServer.url, logFile: '/dev/full' });
    const registry = new Registry();
    shadow.registerMetrics(registry);
    const app = await startApp(shadow);
    await sendRaw(app.url, { method: 'GET', path: '/predict' });
    await shadowServer.waitFor(1);
    await shadow.close({ timeoutMs: 2000 });
    const dropped = shadow.stats().log.dropped.write_error ?? 0;
    expect(dropped).toBeGreaterThanOrEqual(3);
    expect(shadow.stats().log).toMatchObject({ written: 0, failing: true });
    expect(await registry.metrics()).toContain(`express_shadow_records_dropped_total{reason="write_error"} ${dropped}`);
  });
});

describe('log file: rotation', () => {
  it('records written before reopen(), still gathering for their write, go to the renamed file', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'shadow.log');
    const log = sink(file);
    log.write(record(0));
    await log.flush();
    await rename(file, `${file}.1`);
    // No flush: these lines are still gathering (not yet handed to the writer) when reopen() comes.
    for (let i = 1; i < 50; i++) log.write(record(i));
    log.reopen();
    for (let i = 50; i < 60; i++) log.write(record(i));
    await log.flush();
    expect(await seqsIn(`${file}.1`)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(await seqsIn(file)).toEqual(Array.from({ length: 10 }, (_, i) => 50 + i));
  });

  it('after mv and reopen(), new records go to a new file and none is lost across the reopen', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'shadow.log');
    const log = sink(file);
    for (let i = 0; i < 100; i++) log.write(record(i));
    await log.flush();
    await rename(file, `${file}.1`);
    // Until reopen() the open descriptor still writes to the renamed file, as logrotate expects.
    for (let i = 100; i < 150; i++) log.write(record(i));
    await log.flush();
    log.reopen();
    for (let i = 150; i < 200; i++) log.write(record(i));
    await log.flush();
    expect(await seqsIn(`${file}.1`)).toEqual(Array.from({ length: 150 }, (_, i) => i));
    expect(await seqsIn(file)).toEqual(Array.from({ length: 50 }, (_, i) => 150 + i));

    // Reopening in the middle of a stream of records, several times, loses none and keeps each file in order.
    await rename(file, `${file}.2`);
    for (let i = 200; i < 2200; i++) {
      log.write(record(i, 200));
      if (i % 100 === 50) log.reopen();
      if (i % 100 === 0) await nextTick();
    }
    await log.flush();
    const rotated = await seqsIn(`${file}.2`);
    const current = await seqsIn(file);
    expect([...rotated, ...current].filter((s) => s >= 200).sort((a, b) => a - b)).toEqual(Array.from({ length: 2000 }, (_, i) => 200 + i));
    expect(current).toEqual([...current].sort((a, b) => a - b));
    expect(log.stats()).toMatchObject({ written: 2200, dropped: {}, pendingBytes: 0 });
  });
});

describe('log file: rotation, with a stalled reader', () => {
  it('after reopen(), new lines wait until the old stream has written everything it held', async () => {
    const reader = await fifoWithReader();
    const log = sink(reader.fifo);
    // More than the pipe holds, so the old stream is still writing when reopen() is called.
    for (let i = 0; i < 300; i++) log.write(record(i, 1000));
    await nextTick();
    log.reopen();
    for (let i = 300; i < 600; i++) log.write(record(i, 1000));
    await nextTick();
    reader.resume();
    await log.flush();
    await expect.poll(() => reader.lines().length, { timeout: 15_000 }).toBe(600);
    expect(reader.lines().map((line) => (JSON.parse(line) as { seen: number }).seen)).toEqual(Array.from({ length: 600 }, (_, i) => i));
  });
});

describe('log file: back-pressure', () => {
  it('into a FIFO read slowly: holds at most maxPendingBytes, counts the drops, and records flow again once it is read', async () => {
    const reader = await fifoWithReader();
    const maxPendingBytes = 256 * 1024;
    const log = sink(reader.fifo, { maxPendingBytes });
    const warnings = collectWarnings('EXPRESS_SHADOW_LOG_BACKPRESSURE');
    let highest = 0;
    for (let i = 0; i < 2000; i++) {
      log.write(record(i, 1000));
      highest = Math.max(highest, log.stats().pendingBytes);
      if (i % 50 === 49) await nextTick();
    }
    const stuck = log.stats();
    expect(highest).toBeLessThanOrEqual(maxPendingBytes);
    expect(stuck.dropped.backpressure).toBeGreaterThan(0);

    reader.resume();
    await log.flush();
    for (let i = 10_000; i < 10_100; i++) log.write(record(i, 1000));
    await log.flush();
    const after = log.stats();
    expect(after.dropped.backpressure).toBe(stuck.dropped.backpressure);
    expect(after.written + after.dropped.backpressure!).toBe(2100);
    expect(after.pendingBytes).toBe(0);
    await expect.poll(() => reader.lines().length, { timeout: 15_000 }).toBe(after.written);
    expect(reader.lines().slice(-100).map((line) => (JSON.parse(line) as { seen: number }).seen)).toEqual(Array.from({ length: 100 }, (_, i) => 10_000 + i));
    expect(warnings).toHaveLength(1);
  });

  it('close() resolves within its timeout while the disk is stuck (a FIFO nobody reads)', async () => {
    const reader = await fifoWithReader();
    const log = openFileSink(reader.fifo, {});
    for (let i = 0; i < 200; i++) log.write(record(i, 1000));
    let flushed = false;
    void log.flush().then(() => (flushed = true));
    await log.close(100);
    expect(flushed).toBe(false);
    expect(log.stats().pendingBytes).toBeGreaterThan(0);
    // Reading again lets the stuck write finish, so the test leaves nothing behind.
    reader.resume();
    await log.flush();
    expect(log.stats()).toMatchObject({ written: 200, pendingBytes: 0 });
  });

  it('middleware close() resolves within its timeout while its log file is stuck', async () => {
    const reader = await fifoWithReader();
    const shadowServer = closeLater(await startShadowServer());
    // In-thread, so the test can watch the sink drain after close(); the worker's close() is the same code.
    const shadow = mirror({ target: shadowServer.url, logFile: reader.fifo, maxLoggedBodyBytes: 100_000, engine: 'in-thread' });
    const app = await startApp(shadow);
    const body = JSON.stringify({ text: 'y'.repeat(20_000) });
    for (let i = 0; i < 10; i++) await sendRaw(app.url, { method: 'POST', path: '/predict', headers: { 'content-type': 'application/json' }, body });
    await shadowServer.waitFor(10);
    await shadow.close({ timeoutMs: 100 });
    expect(shadow.stats().log.pendingBytes).toBeGreaterThan(0);
    // Once read, what close() left behind still reaches the FIFO.
    reader.resume();
    await expect.poll(() => shadow.stats().log.pendingBytes, { timeout: 15_000 }).toBe(0);
    expect(shadow.stats().log).toMatchObject({ dropped: {}, failing: false });
  });
});

describe('logger option', () => {
  it('writes records through a real pino logger', async () => {
    const file = path.join(await tempDir(), 'pino.log');
    const destination = pino.destination({ dest: file, sync: true });
    const shadowServer = closeLater(await startShadowServer());
    const shadow = mirror({ target: shadowServer.url, logger: pino(destination) });
    const app = await startApp(shadow);
    await sendRaw(app.url, { method: 'GET', path: '/predict' });
    await shadowServer.waitFor(1);
    await shadow.close();
    const records = await readRecords(file);
    const [production] = recordsOfType(records, 'production');
    expect(production).toMatchObject({ level: 30, msg: 'express-shadow', type: 'production', method: 'GET', path: '/predict' });
    expect(recordsOfType(records, 'shadow')).toHaveLength(1);
    expect(shadow.stats().log).toMatchObject({ written: records.length, dropped: {}, failing: false });
    destination.end();
  });

  it('hands each record to any { write(record) } object, and JSON lines to a byte stream', async () => {
    const received: ShadowLogRecord[] = [];
    const bytes = new PassThrough();
    let text = '';
    bytes.on('data', (chunk: Buffer) => (text += chunk.toString()));
    const shadowServer = closeLater(await startShadowServer());
    const objects = mirror({ target: shadowServer.url, logger: { write: (r: ShadowLogRecord) => received.push(r) } });
    const lines = mirror({ target: shadowServer.url, logger: bytes });
    for (const shadow of [objects, lines]) {
      const app = await startApp(shadow);
      await sendRaw(app.url, { method: 'GET', path: '/predict' });
    }
    await shadowServer.waitFor(2);
    await Promise.all([objects.close(), lines.close()]);
    expect(received.map((r) => r.type)).toEqual(['production', 'shadow', 'comparison', 'summary']);
    expect(text.split('\n').filter(Boolean).map((line) => (JSON.parse(line) as ShadowLogRecord).type)).toEqual(['production', 'shadow', 'comparison', 'summary']);
  });

  it('refuses anything else, saying what it accepts', () => {
    for (const logger of [{ info() {} }, 'pino', () => {}]) {
      expect(() => mirror({ target: 'http://127.0.0.1:9', logger: logger as never })).toThrow(
        /`logger` must be a winston logger, a pino logger, or an object with a write\(record\) method/,
      );
    }
  });

  it('takes maxPendingLogBytes as a positive integer, for the log file only', async () => {
    const logFile = path.join(await tempDir(), 'shadow.log');
    expect(() => mirror({ target: 'http://127.0.0.1:9', logFile, maxPendingLogBytes: 0 })).toThrow(/`maxPendingLogBytes` must be a positive integer, got 0/);
    expect(() => mirror({ target: 'http://127.0.0.1:9', logger: { write() {} }, maxPendingLogBytes: 1024 })).toThrow(/`maxPendingLogBytes` cannot be combined with `logger`/);
    const shadow = mirror({ target: 'http://127.0.0.1:9', logFile, maxPendingLogBytes: 1024 });
    expect(shadow.stats().log).toEqual({ written: 0, dropped: {}, pendingBytes: 0, failing: false });
  });

  it('counts the records of a logger that throws and warns once', async () => {
    const warnings = collectWarnings('EXPRESS_SHADOW_LOG');
    const shadowServer = closeLater(await startShadowServer());
    const shadow = mirror({ target: shadowServer.url, logger: { write: () => { throw new Error('disk full'); } } });
    const app = await startApp(shadow);
    for (let i = 0; i < 3; i++) await sendRaw(app.url, { method: 'GET', path: '/predict' });
    await shadowServer.waitFor(3);
    await shadow.close();
    expect(shadow.stats().log.dropped.logger_error).toBeGreaterThanOrEqual(9);
    expect(warnings).toHaveLength(1);
  });
});
