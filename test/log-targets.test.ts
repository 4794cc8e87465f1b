/**
 * Log targets that misbehave: a FIFO nobody reads, a directory deleted under the file, a file replaced, a disk that
 * fills up and is freed, a working directory that changes. No log target may keep the process from exiting, and
 * the counters must tell what the file holds. Real files, FIFOs (mkfifo), a small tmpfs and child processes.
 */
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, openSync } from 'node:fs';
import { mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { readRecords, recordsOfType, sendRaw, startShadowServer, tempDir, testScope } from './helpers.js';
import { logTargetKit, makeFifo, record, seqsIn } from './log-target-kit.js';

const { cleanups, closeLater, mirror, startApp, cleanUp } = testScope();
afterEach(cleanUp);

/** Runs test/fixtures/mirror-then-end.ts; resolves with its exit code and what it printed. Killed after the test if still running. */
async function runApp(logFile: string, options: { engine: 'worker' | 'in-thread'; ending: 'exit' | 'natural'; count: number; bodyBytes: number; waitPendingBytes?: number }) {
  const script = new URL('./fixtures/mirror-then-end.ts', import.meta.url).pathname;
  const args = [logFile, options.engine, options.ending, String(options.count), String(options.bodyBytes), String(options.waitPendingBytes ?? 0)];
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  cleanups.push(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let output = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const [code] = (await once(child, 'exit')) as [number | null];
  const log = /^log (.*)$/m.exec(output)?.[1];
  return { code, done: output.includes('done\n'), log: log === undefined ? undefined : (JSON.parse(log) as { written: number; dropped: Record<string, number>; pendingBytes: number }) };
}

describe('no log target keeps the process from exiting', () => {
  for (const engine of ['worker', 'in-thread'] as const) {
    it(`process.exit(0) returns while the log is a FIFO nobody ever opens (${engine})`, async () => {
      const result = await runApp(await makeFifo(), { engine, ending: 'exit', count: 10, bodyBytes: 100 });
      expect(result).toMatchObject({ code: 0, done: true });
    });
  }

  it('process.exit(0) returns while the FIFO has a reader that takes nothing and the pipe is full', async () => {
    const file = await makeFifo();
    // Our reader: opened read-write, so the app's open succeeds, and never read.
    const reader = openSync(file, 'r+');
    cleanups.push(() => closeSync(reader));
    const result = await runApp(file, { engine: 'in-thread', ending: 'exit', count: 40, bodyBytes: 8000, waitPendingBytes: 200_000 });
    expect(result).toMatchObject({ code: 0, done: true });
    expect(result.log!.pendingBytes).toBeGreaterThan(0);
  });

  for (const engine of ['worker', 'in-thread'] as const) {
    it(`a process that runs out of work ends on its own while its log is a FIFO nobody opens, and counts the records it could not write (${engine})`, async () => {
      const result = await runApp(await makeFifo(), { engine, ending: 'natural', count: 5, bodyBytes: 100 });
      expect(result).toMatchObject({ code: 0, done: true });
      // In-thread the stats are live: nothing left waiting, every record counted as dropped (the worker's may lag).
      if (engine === 'in-thread') expect(result.log).toMatchObject({ written: 0, pendingBytes: 0, dropped: { write_error: 15 } });
    });
  }
});

describe('a relative logFile', () => {
  const cases = [
    { engine: 'worker', logFile: 'relative.log' },
    { engine: 'worker', logFile: undefined },
    { engine: 'in-thread', logFile: './logs/../relative.log' },
  ] as const;
  for (const { engine, logFile } of cases) {
    const written = logFile ?? 'shadow.log';
    it(`is resolved once, at construction: a later process.chdir() does not move the log (${engine}, logFile ${logFile ?? 'left out'})`, async () => {
      const shadowServer = closeLater(await startShadowServer());
      const constructedIn = await tempDir();
      const movedTo = await tempDir();
      if (engine === 'worker') {
        // Tests run the worker from TypeScript through tsx, which it resolves from the working directory: start it
        // before the move (another instance keeps it). The built package's worker is a file URL and has no such need.
        const keeper = mirror({ target: shadowServer.url, logFile: path.join(await tempDir(), 'keeper.log') });
        await sendRaw((await startApp(keeper)).url, { method: 'GET', path: '/start-the-worker' });
        await keeper.whenIdle();
      }
      const cwd = process.cwd();
      process.chdir(constructedIn);
      await mkdir('logs');
      try {
        const shadow = mirror({ target: shadowServer.url, ...(logFile ? { logFile } : {}), engine });
        process.chdir(movedTo);
        const app = await startApp(shadow);
        await sendRaw(app.url, { method: 'GET', path: '/predict' });
        await shadow.whenIdle();
        expect(shadow.stats().engine).toEqual({ mode: engine, available: true });
        expect(recordsOfType(await readRecords(path.join(constructedIn, written)), 'production')).toHaveLength(1);
        expect(await readdir(movedTo)).toEqual([]);
      } finally {
        process.chdir(cwd);
      }
    });
  }
});

const { sink, collectWarnings, fifoWithReader } = logTargetKit(cleanups);

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

describe('writes are checked for what they claim', () => {
  it('notices the log directory deleted while running: warns, counts the records as dropped, and resumes into the directory made again', async () => {
    const warnings = collectWarnings('EXPRESS_SHADOW_LOG');
    const dir = path.join(await tempDir(), 'logs');
    await mkdir(dir);
    const file = path.join(dir, 'shadow.log');
    const log = sink(file, { retryDelayMs: 5, maxRetryDelayMs: 20 });
    for (let i = 0; i < 10; i++) log.write(record(i));
    await log.flush();
    await rm(dir, { recursive: true });
    for (let i = 10; i < 40; i++) log.write(record(i));
    await log.flush();
    expect(log.stats()).toMatchObject({ written: 10, dropped: { write_error: 30 }, failing: true, pendingBytes: 0 });

    await mkdir(dir);
    let seq = 40;
    await expect
      .poll(async () => {
        log.write(record(seq++));
        await log.flush();
        return log.stats().written;
      })
      .toBe(11);
    const { written, dropped } = log.stats();
    expect(await seqsIn(file)).toEqual([seq - 1]);
    expect(written + dropped.write_error!).toBe(seq);
    // One episode, one warning (warnings are emitted on the next tick).
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.message).toMatch(/cannot write the log file .*shadow\.log \(ENOENT/);
  });

  it('notices the file deleted (its directory kept): the lines written to it since the last check are written again to a new file', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'shadow.log');
    const log = sink(file);
    for (let i = 0; i < 10; i++) log.write(record(i));
    await log.flush();
    await rm(file);
    for (let i = 10; i < 30; i++) log.write(record(i));
    await log.flush();
    expect(await seqsIn(file)).toEqual(range(10, 30));
    expect(log.stats()).toMatchObject({ written: 30, dropped: {}, failing: false, pendingBytes: 0 });
  });

  it('notices the file replaced by another (renamed over it): new lines go to the file the path names now, none lost', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'shadow.log');
    const log = sink(file);
    for (let i = 0; i < 10; i++) log.write(record(i));
    await log.flush();
    await writeFile(path.join(dir, 'other'), `${JSON.stringify(record(-1))}\n`);
    await rename(path.join(dir, 'other'), file);
    for (let i = 10; i < 30; i++) log.write(record(i));
    await log.flush();
    expect(await seqsIn(file)).toEqual([-1, ...range(10, 30)]);
    expect(log.stats()).toMatchObject({ written: 30, dropped: {} });
  });

  it('notices the file moved away without reopen(): lines already written stay in the moved file, the next ones go to the path', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'shadow.log');
    const log = sink(file);
    for (let i = 0; i < 10; i++) log.write(record(i));
    await log.flush();
    await rename(file, `${file}.1`);
    for (let i = 10; i < 30; i++) log.write(record(i));
    await log.flush();
    for (let i = 30; i < 35; i++) log.write(record(i));
    await log.flush();
    expect(await seqsIn(`${file}.1`)).toEqual(range(0, 30));
    expect(await seqsIn(file)).toEqual(range(30, 35));
    expect(log.stats()).toMatchObject({ written: 35, dropped: {} });
  });
});

/**
 * A tmpfs of `bytes` mounted on a new directory (we need root and CAP_SYS_ADMIN: the CI machine runs as root), or
 * why it cannot be; unmounted after the test.
 */
async function smallDisk(bytes: number): Promise<{ dir: string } | { skip: string }> {
  const dir = await tempDir();
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${bytes}`, 'tmpfs', dir], { stdio: 'pipe' });
  } catch (error) {
    const stderr = (error as { stderr?: Buffer }).stderr?.toString().trim();
    return { skip: `cannot mount a tmpfs to fill (${stderr || (error as Error).message}); run as root with CAP_SYS_ADMIN to test a full disk` };
  }
  // Lazily: a descriptor still open (a worker's log) must not make the cleanup fail.
  cleanups.unshift(() => execFileSync('umount', ['-l', dir]));
  return { dir };
}

/** Fills a disk of `size` bytes but `free`. */
async function fill(dir: string, size: number, free: number): Promise<string> {
  const filler = path.join(dir, 'filler');
  await writeFile(filler, Buffer.alloc(size - free));
  return filler;
}

describe('a disk that fills up, then has room again', () => {
  const variations = [
    { name: 'records of one size, ten per write', sizes: () => 700, perFlush: 10 },
    { name: 'records of many sizes, a hundred per write', sizes: (seq: number) => 100 + ((seq * 7919) % 5000), perFlush: 100 },
  ];
  for (const variation of variations) {
    it(`leaves no torn line, and the counters match the file (${variation.name})`, async (context) => {
      const disk = await smallDisk(1_048_576);
      if ('skip' in disk) {
        console.warn(`skipped: ${disk.skip}`);
        return context.skip(disk.skip);
      }
      const filler = await fill(disk.dir, 1_048_576, 96 * 1024);
      const file = path.join(disk.dir, 'shadow.log');
      const log = sink(file, { retryDelayMs: 5, maxRetryDelayMs: 20 });
      let seq = 0;
      const writeSome = async () => {
        for (let i = 0; i < variation.perFlush; i++) log.write(record(seq, variation.sizes(seq++)));
        await log.flush();
      };
      while (!log.stats().failing) await writeSome();
      await rm(filler);
      await expect
        .poll(async () => {
          await writeSome();
          return log.stats().failing;
        })
        .toBe(false);
      for (let i = 0; i < 5; i++) await writeSome();
      const { written, dropped, pendingBytes } = log.stats();
      const onDisk = await seqsIn(file);
      expect(onDisk).toHaveLength(written);
      expect(written + dropped.write_error!).toBe(seq);
      expect(pendingBytes).toBe(0);
      expect(onDisk).toEqual([...onDisk].sort((a, b) => a - b));
    });
  }

  it('through the middleware (worker): stats().log.written is the number of records on disk, all readable', async (context) => {
    const disk = await smallDisk(1_048_576);
    if ('skip' in disk) {
      console.warn(`skipped: ${disk.skip}`);
      return context.skip(disk.skip);
    }
    const filler = await fill(disk.dir, 1_048_576, 64 * 1024);
    const shadowServer = closeLater(await startShadowServer());
    const logFile = path.join(disk.dir, 'shadow.log');
    const shadow = mirror({ target: shadowServer.url, logFile, engine: 'worker' });
    const app = await startApp(shadow);
    const body = JSON.stringify({ text: 'y'.repeat(3000) });
    const send = async () => {
      await sendRaw(app.url, { method: 'POST', path: '/predict', headers: { 'content-type': 'application/json' }, body });
      await shadow.whenIdle();
    };
    while (!shadow.stats().log.failing) await send();
    await rm(filler);
    await expect
      .poll(
        async () => {
          await send();
          return shadow.stats().log.failing;
        },
        { timeout: 30_000 },
      )
      .toBe(false);
    await send();
    const { written, dropped, pendingBytes } = shadow.stats().log;
    expect(pendingBytes).toBe(0);
    expect(dropped.write_error).toBeGreaterThan(0);
    expect(await readRecords(logFile)).toHaveLength(written);
  });
});

describe('a pipe whose reader stops taking lines', () => {
  it('gives up after the stall limit and counts what waited; a line cut in two in the pipe is ended, so every later line is whole', async () => {
    const reader = await fifoWithReader();
    const log = sink(reader.fifo, { stallTimeoutMs: 200, retryDelayMs: 5, maxRetryDelayMs: 20 });
    // Far more than a pipe holds, in lines of an odd size, so the pipe fills up in the middle of one.
    let seq = 0;
    for (; seq < 300; seq++) log.write(record(seq, 997));
    await log.flush();
    const stuck = log.stats();
    expect(stuck.dropped.write_error).toBeGreaterThan(0);
    expect(stuck.pendingBytes).toBe(0);

    reader.resume();
    await expect
      .poll(async () => {
        log.write(record(seq++, 997));
        await log.flush();
        return log.stats().failing;
      })
      .toBe(false);
    const { written, dropped } = log.stats();
    expect(written + dropped.write_error!).toBe(seq);
    const lines = reader.lines;
    const records = () =>
      lines().flatMap((line) => {
        try {
          return [JSON.parse(line) as { seen: number }];
        } catch {
          return [];
        }
      });
    // Every record counted as written arrives whole...
    await expect.poll(() => records().length).toBe(written);
    const parsed = records();
    // ...and at most the one line the stall cut in two is not a record.
    expect(lines().length - parsed.length).toBeLessThanOrEqual(1);
    expect(parsed.at(-1)!.seen).toBe(seq - 1);
  });
});
