/**
 * Starting the engine's worker deliberately: the file (the package's own, a bundler's override, or one shipped
 * beside a bundle), the flags it may take, and the heap it may use.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

/**
 * Flags a worker cannot take (`--input-type`, `--eval`, `--print`, `--test`, `--watch`...) are left out: the
 * worker gets only what loads modules (`--import`, `--require`, loaders, conditions), and the flags that change how
 * warnings and source maps show.
 */
const WORKER_FLAGS = /^(--import|--require|-r|--loader|--experimental-loader|--conditions|-C|--enable-source-maps|--no-warnings|--no-deprecation|--trace-warnings|--trace-deprecation|--experimental-[a-z-]+|--no-experimental-[a-z-]+)(=|$)/;
const FLAGS_WITH_VALUE = new Set(['--import', '--require', '-r', '--loader', '--experimental-loader', '--conditions', '-C']);

function workerExecArgv(execArgv: readonly string[]): string[] {
  const kept: string[] = [];
  for (let i = 0; i < execArgv.length; i++) {
    const flag = execArgv[i]!;
    if (!WORKER_FLAGS.test(flag)) continue;
    kept.push(flag);
    if (FLAGS_WITH_VALUE.has(flag) && i + 1 < execArgv.length) kept.push(execArgv[++i]!);
  }
  return kept;
}

/**
 * Where the worker's file is: a bundler's override (pino's `globalThis.__bundlerPathsOverrides`, key
 * `express-shadow-worker`), the `EXPRESS_SHADOW_WORKER` variable, the package's own file, or
 * `express-shadow-worker.js` beside a bundle (see docs/bundling.md).
 */
function workerFile(): URL | string {
  const overrides = (globalThis as { __bundlerPathsOverrides?: Record<string, string> }).__bundlerPathsOverrides;
  const override = overrides?.['express-shadow-worker'] ?? process.env.EXPRESS_SHADOW_WORKER;
  if (override) return override;
  const own = new URL('../engine/worker.js', import.meta.url);
  if (existsSync(fileURLToPath(own))) return own;
  const besideBundle = new URL('./express-shadow-worker.js', import.meta.url);
  if (existsSync(fileURLToPath(besideBundle))) return besideBundle;
  throw new Error(`the worker file is missing (${fileURLToPath(own)}); a bundled app ships it as express-shadow-worker.js beside the bundle (docs/bundling.md)`);
}

/** Young generation kept small: the engine's objects die young, and the default (up to 48 MB) shows up as RSS. */
const WORKER_LIMITS = { maxYoungGenerationSizeMb: 8, maxOldGenerationSizeMb: 256 };

/**
 * The engine worker. Tests run the TypeScript sources; the worker is then the `.ts` file, loaded through tsx
 * (a dev dependency), registered inside the worker because Node 20 takes no `--import` in a worker's execArgv.
 */
export function startWorker(watchdog: SharedArrayBuffer | undefined): Worker {
  const options = { workerData: { watchdog }, execArgv: workerExecArgv(process.execArgv), resourceLimits: WORKER_LIMITS };
  if (!import.meta.url.endsWith('.ts')) return new Worker(workerFile(), options);
  const source = JSON.stringify(new URL('../engine/worker.ts', import.meta.url).href);
  return new Worker(`import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${source}); })`, { ...options, eval: true });
}
