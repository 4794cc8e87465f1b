/**
 * `shadowMiddleware(options)`: validates once, builds the tap and connects it to an engine (the process's worker,
 * or in-thread when a hook cannot cross threads), and returns the middleware with its controls.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ShadowOptionsError, ShadowUsageError, showValue } from '../errors.js';
import { createMetrics, type MetricsOptions } from '../metrics.js';
import { resolveOptions, type ResolvedOptions } from '../engine/config.js';
import { validateSampleRate } from '../options.js';
import type { EngineStats } from '../engine/engine-counts.js';
import { portableOptions, replaceModuleHooks } from '../engine/portable-options.js';
import type { CloseOptions, ShadowMiddleware, ShadowOptions, ShadowStats, ShadowUpdate } from '../types.js';
import type { AppRequest, AppResponse } from './app-request.js';
import { localLink, type EngineLink, type TapFeedback } from './engine-link.js';
import { workerLink } from './engine-worker.js';
import { Tap } from './tap.js';
import { watchReopenSignal } from './reopen-signal.js';
import { checkLogFile } from '../engine/check-log-file.js';
import { withTimeout } from '../timeout.js';

/**
 * Mirrors requests to a shadow model after production has answered, and logs both answers side by side.
 *
 * @example
 * const shadow = shadowMiddleware({ target: 'http://127.0.0.1:9000', logFile: './shadow.log' });
 * app.post('/predict', shadow, predict);
 */
export function shadowMiddleware(options: ShadowOptions): ShadowMiddleware {
  // eslint-disable-next-line prefer-rest-params
  if (arguments.length >= 3 && typeof arguments[2] === 'function') {
    throw new ShadowUsageError(
      'express-shadow: shadowMiddleware was mounted without being called. Use app.use(shadowMiddleware({ target: "http://..." })), not app.use(shadowMiddleware).',
    );
  }
  // Module hooks run in the engine; here they only need to pass validation.
  const config = resolveOptions(replaceModuleHooks(options, () => moduleHookPlaceholder));
  if (!config.logger) checkLogFile(config.logFile);
  const tap = new Tap(config);
  tap.engine.link = connectEngine(options as unknown as Record<string, unknown>, config, tap.engine);
  const summaryTimer = config.summaryIntervalMs > 0 ? setInterval(() => tap.flushPeriod(), config.summaryIntervalMs) : undefined;
  summaryTimer?.unref();
  const unwatchSignal = config.reopenOnSignal ? watchReopenSignal(config.reopenOnSignal, () => tap.engine.link.reopen()) : undefined;

  const middleware = function shadow(req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void): void {
    try {
      tap.handle(req as AppRequest, res as AppResponse);
    } catch {
      // A fault of ours never reaches production: the request simply is not mirrored.
    }
    next();
  } as ShadowMiddleware;

  let closed: Promise<void> | undefined;
  middleware.close = (closeOptions: CloseOptions = {}) => {
    const timeoutMs = closeOptions.timeoutMs ?? 10_000;
    if (typeof timeoutMs !== 'number' || !Number.isFinite(timeoutMs) || timeoutMs < 0) {
      return Promise.reject(new ShadowOptionsError('close.timeoutMs', `must be a number of 0 or more, got ${showValue(timeoutMs)}`));
    }
    closed ??= (async () => {
      tap.handOff.closing = true;
      if (summaryTimer) clearInterval(summaryTimer);
      unwatchSignal?.();
      const started = Date.now();
      if ((await withTimeout(tap.handOff.whenIdle(), timeoutMs)) === 'timeout') tap.handOff.abandonBodies();
      await tap.engine.link.close(Math.max(0, timeoutMs - (Date.now() - started)), tap.counters.takePeriod());
    })();
    return closed;
  };

  middleware.whenIdle = async () => {
    await tap.handOff.whenIdle();
    await tap.engine.link.whenIdle();
  };

  middleware.reopen = () => tap.engine.link.reopen();

  middleware.update = (update: ShadowUpdate) => {
    if (typeof update !== 'object' || update === null) throw new ShadowOptionsError('update', `takes { enabled?, sampleRate? }, got ${showValue(update)}`);
    for (const key of Object.keys(update)) {
      if (key !== 'enabled' && key !== 'sampleRate') throw new ShadowOptionsError(key, `cannot be changed at run time; update() takes enabled and sampleRate`);
    }
    if (update.enabled !== undefined && typeof update.enabled !== 'boolean') {
      throw new ShadowOptionsError('enabled', `must be true or false, got ${showValue(update.enabled)}`);
    }
    const nextRate = update.sampleRate === undefined ? tap.admission.sampleRate : validateSampleRate('sampleRate', update.sampleRate);
    if (update.enabled !== undefined) tap.admission.enabled = update.enabled;
    tap.admission.sampleRate = nextRate;
  };

  middleware.stats = () => statsOf(tap, config);

  middleware.registerMetrics = (registry?: unknown, metricsOptions: MetricsOptions = {}) => {
    tap.counters.observers.push(createMetrics(registry, metricsOptions, middleware.stats));
    tap.engine.link.wantEvents(true);
  };

  return middleware;
}

function moduleHookPlaceholder(): never {
  throw new Error('express-shadow: a module hook runs in the engine, not here');
}

/** The worker when every hook can cross threads (or `engine: 'worker'` insists), in-thread otherwise. */
function connectEngine(options: Record<string, unknown>, config: ResolvedOptions, tap: TapFeedback): EngineLink {
  const plan = portableOptions(options);
  if (config.engine === 'in-thread') {
    if (hasModuleHooks(options)) throw new ShadowOptionsError('engine', `'in-thread' cannot load module hooks ({ module, export }); pass the functions themselves`);
    return localLink(config, tap, true);
  }
  if ('blocker' in plan) {
    if (config.engine === 'worker') {
      throw new ShadowOptionsError(
        plan.blocker,
        `cannot cross to the engine's worker thread (engine: 'worker'); give it as a module specifier { module: './hooks.js', export: 'name' }`,
      );
    }
    if (hasModuleHooks(options)) {
      throw new ShadowOptionsError(plan.blocker, `is a function while other hooks are module specifiers; give all engine hooks the same way`);
    }
    return localLink(config, tap, true);
  }
  // The worker gets the log path as resolved at construction, not relative to its cwd when it starts.
  return workerLink({ ...plan.portable, logFile: config.logFile }, tap);
}

function hasModuleHooks(options: Record<string, unknown>): boolean {
  let found = false;
  replaceModuleHooks(options, () => (found = true));
  return found;
}

function statsOf(tap: Tap, config: ResolvedOptions): ShadowStats {
  const link = tap.engine.link;
  const { admission, counters } = tap;
  const engine: EngineStats = link.stats() ?? emptyEngineStats(config);
  const targets: ShadowStats['targets'] = {};
  for (const target of config.targets) {
    const live = engine.targets[target.name] ?? emptyEngineStats(config).targets[target.name]!;
    targets[target.name] = { ...live, sampleRate: target.sampleRate ?? admission.sampleRate };
  }
  return {
    enabled: admission.enabled && !tap.handOff.closing,
    sampleRate: admission.sampleRate,
    seen: counters.totals.seen,
    mirrored: engine.mirrored,
    notMirrored: sumCounts(counters.notMirrored, engine.notMirrored),
    skipped: sumCounts(counters.skipped, engine.skipped),
    succeeded: engine.succeeded,
    failed: { ...engine.failed },
    inFlight: engine.inFlight,
    queued: engine.queued,
    queuedBytes: tap.budget.used,
    breakers: { ...engine.breakers },
    latencyMs: engine.latencyMs,
    targets,
    engine: { mode: link.mode, available: link.available },
    log: engine.log ?? { written: 0, dropped: {}, pendingBytes: 0, failing: false },
  };
}

function emptyEngineStats(config: ResolvedOptions): EngineStats {
  const targets: EngineStats['targets'] = {};
  const breakers: EngineStats['breakers'] = {};
  const none = { count: 0, p50: null, p90: null, p99: null };
  for (const target of config.targets) {
    breakers[target.name] = 'closed';
    targets[target.name] = { role: target.role, mirrored: 0, succeeded: 0, failed: {}, breaker: 'closed', latencyMs: none };
  }
  return { mirrored: 0, succeeded: 0, failed: {}, skipped: {}, notMirrored: {}, inFlight: 0, queued: 0, breakers, latencyMs: none, targets };
}

function sumCounts(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  const sum: Record<string, number> = { ...a };
  for (const [key, count] of Object.entries(b)) sum[key] = (sum[key] ?? 0) + count;
  return sum;
}
