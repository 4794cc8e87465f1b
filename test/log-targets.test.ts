/**
 * Log targets that misbehave: a FIFO nobody reads, a directory deleted under the file, a file replaced, a disk that
 * fills up and is freed, a working directory that changes. No log target may keep the process from exiting, and
 * the counters must tell what the file holds. Real files, FIFOs (mkfifo), a small tmpfs and child processes.
 */
import { mkdir, readdir } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { readRecords, recordsOfType, sendRaw, startShadowServer, tempDir, testScope } from './helpers.js';

const { closeLater, mirror, startApp, cleanUp } = testScope();
afterEach(cleanUp);

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
