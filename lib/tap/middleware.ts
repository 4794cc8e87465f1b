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
import { localLink, workerLink, type EngineLink } from './engine-link.js';
import { Tap, type AppRequest, type AppResponse } from './tap.js';
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
  tap.link = connectEngine(options as unknown as Record<string, unknown>, config, tap);
  const summaryTimer = config.summaryIntervalMs > 0 ? setInterval(() => tap.flushPeriod(), config.summaryIntervalMs) : undefined;
  summaryTimer?.unref();
  const unwatchSignal = config.reopenOnSignal ? watchReopenSignal(config.reopenOnSignal, () => tap.link.reopen()) : undefined;

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
      tap.closing = true;
      if (summaryTimer) clearInterval(summaryTimer);
      unwatchSignal?.();
      const started = Date.now();
      if ((await withTimeout(tap.whenTapIdle(), timeoutMs)) === 'timeout') tap.abandonBodies();
      await tap.link.close(Math.max(0, timeoutMs - (Date.now() - started)), tap.takePeriod());
    })();
    return closed;
  };

  middleware.whenIdle = async () => {
    await tap.whenTapIdle();
    await tap.link.whenIdle();
  };

  middleware.reopen = () => tap.link.reopen();

  middleware.update = (update: ShadowUpdate) => {
    if (typeof update !== 'object' || update === null) throw new ShadowOptionsError('update', `takes { enabled?, sampleRate? }, got ${showValue(update)}`);
    for (const key of Object.keys(update)) {
      if (key !== 'enabled' && key !== 'sampleRate') throw new ShadowOptionsError(key, `cannot be changed at run time; update() takes enabled and sampleRate`);
    }
    if (update.enabled !== undefined && typeof update.enabled !== 'boolean') {
      throw new ShadowOptionsError('enabled', `must be true or false, got ${showValue(update.enabled)}`);
    }
    const nextRate = update.sampleRate === undefined ? tap.sampleRate : validateSampleRate('sampleRate', update.sampleRate);
    if (update.enabled !== undefined) tap.enabled = update.enabled;
    tap.sampleRate = nextRate;
  };

  middleware.stats = () => statsOf(tap, config);

  middleware.registerMetrics = (registry?: unknown, metricsOptions: MetricsOptions = {}) => {
    tap.observers.push(createMetrics(registry, metricsOptions, middleware.stats));
    tap.link.wantEvents(true);
  };

  return middleware;
}

function moduleHookPlaceholder(): never {
  throw new Error('express-shadow: a module hook runs in the engine, not here');
}

/** The worker when every hook can cross threads (or `engine: 'worker'` insists), in-thread otherwise. */
function connectEngine(options: Record<string, unknown>, config: ResolvedOptions, tap: Tap): EngineLink {
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
  const engine: EngineStats = tap.link.stats() ?? emptyEngineStats(config);
  const targets: ShadowStats['targets'] = {};
  for (const target of config.targets) {
    const live = engine.targets[target.name] ?? emptyEngineStats(config).targets[target.name]!;
    targets[target.name] = { ...live, sampleRate: target.sampleRate ?? tap.sampleRate };
  }
  return {
    enabled: tap.enabled && !tap.closing,
    sampleRate: tap.sampleRate,
    seen: tap.totals.seen,
    mirrored: engine.mirrored,
    notMirrored: sumCounts(tap.notMirrored, engine.notMirrored),
    skipped: sumCounts(tap.skipped, engine.skipped),
    succeeded: engine.succeeded,
    failed: { ...engine.failed },
    inFlight: engine.inFlight,
    queued: engine.queued,
    queuedBytes: tap.budget.used,
    breakers: { ...engine.breakers },
    latencyMs: engine.latencyMs,
    targets,
    engine: { mode: tap.link.mode, available: tap.link.available },
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
