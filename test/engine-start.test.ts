/**
 * The engine's worker in the hostile ways apps are run: from stdin with `--input-type`, under Node's permission
 * model, bundled into one file, with its worker file missing, with hooks that never return, fail to load or warn,
 * and shut down while idle. Each app is a real process (test/fixtures/engine/app.mjs) mirroring to a real shadow.
 */
import { execFile, spawn } from 'node:child_process';
import { copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import type { ShadowStats } from '../lib/index.js';
import { readRecords, recordsOfType, startShadowServer, tempDir, tempLogFile, type RecordingServer } from './helpers.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const fixtures = join(root, 'test/fixtures/engine');
const run = promisify(execFile);

interface AppOutput {
  statuses: number[];
  stats: ShadowStats;
  warnings: { code?: string; message: string }[];
  closeMs: number;
  /** Whether the app's own thread loaded undici and winston. */
  appThread: { undici: boolean; winston: boolean };
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function shadowServer(handler?: Parameters<typeof startShadowServer>[0]): Promise<RecordingServer> {
  const server = await startShadowServer(handler);
  cleanups.push(() => server.close());
  return server;
}

/** Runs the fixture app (or `script`) with `node ...flags`, the options as JSON, and returns what it printed. */
async function runApp(options: object, settings: { flags?: string[]; env?: Record<string, string>; script?: string; stdin?: boolean; requests?: number } = {}): Promise<AppOutput & { code: number | null; stderr: string }> {
  const script = settings.script ?? join(fixtures, 'app.mjs');
  const env = { ...process.env, SHADOW_OPTIONS: JSON.stringify(options), REQUESTS: String(settings.requests ?? 3), ...settings.env };
  const args = [...(settings.flags ?? []), ...(settings.stdin ? [] : [script])];
  const child = spawn(process.execPath, args, { cwd: root, env, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  if (settings.stdin) {
    const { readFile } = await import('node:fs/promises');
    child.stdin.end(await readFile(script));
  } else child.stdin.end();
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  const line = stdout.trim().split('\n').at(-1) ?? '';
  if (!line.startsWith('{')) throw new Error(`the app printed no result (exit ${code}):\n${stdout}\n${stderr}`);
  return { ...(JSON.parse(line) as AppOutput), code, stderr };
}


describe("the app's thread", () => {
  it('loads neither the HTTP client nor the log writer: undici and winston load in the engine worker only', async () => {
    const shadow = await shadowServer();
    const logFile = await tempLogFile();
    const out = await runApp({ target: shadow.url, logFile });
    expect(out.stats).toMatchObject({ mirrored: 3, engine: { mode: 'worker', available: true } });
    expect(recordsOfType(await readRecords(logFile), 'comparison')).toHaveLength(3);
    expect(out.appThread).toEqual({ undici: false, winston: false });
  });

  it('loads them when the engine runs in it (engine: in-thread), which shows the check sees them', async () => {
    const shadow = await shadowServer();
    const logFile = await tempLogFile();
    const out = await runApp({ target: shadow.url, logFile, engine: 'in-thread' });
    expect(out.stats).toMatchObject({ mirrored: 3, engine: { mode: 'in-thread' } });
    expect(out.appThread).toEqual({ undici: true, winston: true });
  });
});

describe('the engine starts wherever the app does', () => {
  it('an app run from stdin with --input-type=module mirrors through the worker (flags a worker cannot take are left out)', async () => {
    const shadow = await shadowServer();
    const logFile = await tempLogFile();
    const out = await runApp({ target: shadow.url, logFile }, { flags: ['--input-type=module'], stdin: true });
    expect(out.code).toBe(0);
    expect(out.statuses).toEqual([200, 200, 200]);
    expect(out.stats).toMatchObject({ mirrored: 3, engine: { mode: 'worker', available: true } });
    expect(shadow.received.map((r) => r.url)).toEqual(['/p1', '/p2', '/p3']);
    expect(out.warnings).toEqual([]);
  });

  it('with the worker file missing, it says so once and mirrors every request in the app\'s thread', async () => {
    const shadow = await shadowServer();
    const logFile = await tempLogFile();
    const out = await runApp({ target: shadow.url, logFile }, { env: { EXPRESS_SHADOW_WORKER: join(await tempDir(), 'missing-worker.js') } });
    expect(out.code).toBe(0);
    expect(out.statuses).toEqual([200, 200, 200]);
    expect(out.stats).toMatchObject({ mirrored: 3, engine: { mode: 'in-thread' } });
    expect(out.warnings.filter((w) => w.code === 'EXPRESS_SHADOW_ENGINE_FALLBACK')).toHaveLength(1);
    expect(recordsOfType(await readRecords(logFile), 'shadow')).toHaveLength(3);
  });

  it('starts the worker when the middleware is mounted, not on the first request: one that cannot start is known before any request', async () => {
    // The app sends nothing until a warning comes: started on the first request instead, the worker would never
    // fail, no warning would come, and the app would wait until the test's timeout.
    const shadow = await shadowServer();
    const logFile = await tempLogFile();
    const out = await runApp({ target: shadow.url, logFile }, { env: { EXPRESS_SHADOW_WORKER: join(await tempDir(), 'missing-worker.js'), AWAIT_WARNING: '1' } });
    expect(out.code).toBe(0);
    expect(out.warnings.map((w) => w.code)).toEqual(['EXPRESS_SHADOW_ENGINE_FALLBACK']);
    expect(out.stats).toMatchObject({ mirrored: 3, engine: { mode: 'in-thread' } });
  });

  it('under the permission model without --allow-worker, new Worker() throws: the app answers every request and mirrors in its thread', async (context) => {
    const flag = process.allowedNodeEnvironmentFlags.has('--permission') ? '--permission' : '--experimental-permission';
    if (!process.allowedNodeEnvironmentFlags.has(flag)) {
      console.log(`skipped: this Node (${process.version}) has no permission model flag`);
      return context.skip();
    }
    const shadow = await shadowServer();
    const dir = await tempDir();
    const logFile = join(dir, 'shadow.log');
    const out = await runApp({ target: shadow.url, logFile }, { flags: [flag, `--allow-fs-read=*`, `--allow-fs-write=${dir}`] });
    expect(out.code).toBe(0);
    expect(out.statuses).toEqual([200, 200, 200]);
    expect(out.stats).toMatchObject({ mirrored: 3, engine: { mode: 'in-thread' } });
    expect(out.warnings.filter((w) => w.code === 'EXPRESS_SHADOW_ENGINE_FALLBACK')).toHaveLength(1);
  });

  describe('bundled into one file with esbuild', () => {
    /** The app bundled into a directory without node_modules; the worker's file beside it as given. */
    async function bundle(worker: 'copied' | 'bundled again' | 'none'): Promise<string> {
      const dir = await tempDir();
      const esbuild = join(root, 'node_modules/.bin/esbuild');
      const common = ['--bundle', '--platform=node', '--format=esm', `--alias:express-shadow=${join(root, 'dist/index.js')}`, '--log-level=error'];
      // The bundle's own require() for CommonJS dependencies (express), as esbuild documents for ESM output.
      const banner = `--banner:js=import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);`;
      await run(esbuild, [join(fixtures, 'app.mjs'), ...common, banner, `--outfile=${join(dir, 'app.mjs')}`]);
      const besideBundle = join(dir, 'express-shadow-worker.js');
      if (worker === 'copied') await copyFile(join(root, 'dist/engine/worker.js'), besideBundle);
      if (worker === 'bundled again') await run(esbuild, [join(root, 'dist/engine/worker.js'), ...common, banner, `--outfile=${besideBundle}`]);
      return join(dir, 'app.mjs');
    }

    it.each(['copied', 'bundled again'] as const)('mirrors through the package\'s worker file %s beside the bundle as express-shadow-worker.js, with no node_modules', async (worker) => {
      const shadow = await shadowServer();
      const logFile = await tempLogFile();
      const out = await runApp({ target: shadow.url, logFile }, { script: await bundle(worker) });
      expect(out.code).toBe(0);
      expect(out.stats).toMatchObject({ mirrored: 3, engine: { mode: 'worker', available: true } });
      expect(recordsOfType(await readRecords(logFile), 'comparison')).toHaveLength(3);
    });

    it('without the worker file, falls back to the app\'s thread with one warning and still mirrors every request', async () => {
      const shadow = await shadowServer();
      const logFile = await tempLogFile();
      const out = await runApp({ target: shadow.url, logFile }, { script: await bundle('none') });
      expect(out.code).toBe(0);
      expect(out.stats).toMatchObject({ mirrored: 3, engine: { mode: 'in-thread' } });
      expect(out.warnings.filter((w) => w.code === 'EXPRESS_SHADOW_ENGINE_FALLBACK')).toHaveLength(1);
      expect(shadow.received).toHaveLength(3);
    });
  });
});

describe('hooks that misbehave in the worker', () => {
  it('a hook stuck in a loop ends as hook_timeout; the requests the worker had not started go to a new one, and close() resolves', async () => {
    const shadow = await shadowServer((req, res) => res.end(JSON.stringify({ label: 'positive', loop: req.url === '/p2' })));
    const logFile = await tempLogFile();
    const options = {
      target: shadow.url,
      logFile,
      hookTimeoutMs: 300,
      transformResponse: { module: join(fixtures, 'hooks.mjs'), export: 'loopOnRequest' },
    };
    // /p3 to /p5 are sent once the hook has marked that it is stuck: they reach a worker that cannot start them.
    const out = await runApp(options, { requests: 5, env: { HOOK_MARK: join(await tempDir(), 'stuck') } });
    expect(out.code).toBe(0);
    expect(out.statuses).toEqual([200, 200, 200, 200, 200]);
    expect(out.warnings.map((w) => w.code)).toContain('EXPRESS_SHADOW_ENGINE');
    const records = await readRecords(logFile);
    const paths = new Map(recordsOfType(records, 'production').map((r) => [r.requestId, r.path]));
    const skipped = recordsOfType(records, 'skipped');
    expect(skipped.map((r) => [r.path, r.reason])).toEqual([['/p2', 'hook_timeout']]);
    const compared = recordsOfType(records, 'comparison').map((r) => paths.get(r.requestId)).sort();
    // /p1's records may still have been in the ended worker's writer (its first write opens the file, asynchronously):
    // a known gap, in the closing note. The requests it never started all reach the new worker.
    expect(compared.filter((path) => path !== '/p1')).toEqual(['/p3', '/p4', '/p5']);
  });

  it('a hook module that throws while loading: every request is logged as skipped (engine_error) and the engine reports unavailable', async () => {
    const shadow = await shadowServer();
    const logFile = await tempLogFile();
    const out = await runApp({ target: shadow.url, logFile, transformResponse: { module: join(fixtures, 'throws-on-load.mjs'), export: 'transformResponse' } });
    expect(out.code).toBe(0);
    expect(out.statuses).toEqual([200, 200, 200]);
    const skipped = recordsOfType(await readRecords(logFile), 'skipped');
    expect(skipped.map((r) => [r.path, r.reason])).toEqual([
      ['/p1', 'engine_error'],
      ['/p2', 'engine_error'],
      ['/p3', 'engine_error'],
    ]);
    expect(skipped[0]!.detail).toContain('this hook module is broken');
    expect(out.stats.engine.available).toBe(false);
    expect(shadow.received).toHaveLength(0);
  });

  it('a warning raised in the worker reaches the app\'s process.on(\'warning\'), once', async () => {
    const shadow = await shadowServer();
    const out = await runApp({ target: shadow.url, logFile: await tempLogFile(), transformResponse: { module: join(fixtures, 'warns-on-load.mjs'), export: 'transformResponse' } });
    expect(out.warnings.filter((w) => w.code === 'HOOK_SAYS_HELLO')).toEqual([{ code: 'HOOK_SAYS_HELLO', message: 'hello from the engine' }]);
    expect(out.stderr.match(/hello from the engine/g) ?? []).toHaveLength(1);
  });
});

describe('close() at the top level of a module', () => {
  it('with an idle engine (everything sampled out) resolves and writes the summary with the counts', async () => {
    const shadow = await shadowServer();
    const logFile = await tempLogFile();
    const out = await runApp({ target: shadow.url, logFile, sampleRate: 0 });
    expect(out.code).toBe(0);
    const [summary] = recordsOfType(await readRecords(logFile), 'summary');
    expect(summary).toMatchObject({ seen: 3, mirrored: 0, notMirrored: { sampled_out: 3 } });
  });

  it('with an engine that never started (no request) resolves and exits 0', async () => {
    const shadow = await shadowServer();
    const out = await runApp({ target: shadow.url, logFile: await tempLogFile() }, { requests: 0 });
    expect(out.code).toBe(0);
    expect(out.stats.seen).toBe(0);
  });

  it('with calls still in flight waits for them and writes every record', async () => {
    const shadow = await shadowServer((_req, res) => setTimeout(() => res.end('{"label":"positive"}'), 300));
    const logFile = await tempLogFile();
    const out = await runApp({ target: shadow.url, logFile });
    expect(out.code).toBe(0);
    const records = await readRecords(logFile);
    expect(recordsOfType(records, 'shadow').map((r) => r.status)).toEqual([200, 200, 200]);
    expect(recordsOfType(records, 'summary')).toHaveLength(1);
  });
});
