/**
 * The engine's side of the hand-off: every middleware instance's pipeline in this thread, by id, behind one small
 * interface (`EngineHost.call(id, method, args)`). The same object runs on the engine's worker thread, where
 * worker.ts only relays messages to it, and in the app's thread, where the tap calls it directly. Instances share
 * one record sink per log file (a thousand per-route instances hold one descriptor). What the taps need back (bytes
 * to release, breaker states, stats, metric events, how far behind the engine runs) is batched into one feedback
 * per turn of this thread's loop. Nothing here throws at the tap.
 */
import { resolveOptions, type ResolvedOptions } from './config.js';
import { errorMessage } from '../errors.js';
import type { BreakerState } from '../types.js';
import type { EngineEvent, Exchange, SkippedExchange, TapPeriod } from './exchange.js';
import { engineLag } from './lag-monitor.js';
import { ShadowPipeline } from './pipeline.js';
import type { EngineStats } from './engine-counts.js';
import { loadModuleHooks } from './portable-options.js';
import type { EngineCalls, EngineFeedback, EngineMethod, FeedbackItem } from './protocol.js';
import { appLoggerSink } from './app-logger-sink.js';
import { openFileSink } from './sink.js';
import type { RecordSink } from './sink-types.js';

/** A stats snapshot goes back with the feedback at most this often per instance (the summary sorts latency windows). */
const STATS_EVERY_MS = 100;
const DONE = Promise.resolve();
/** Feedback (bytes freed, stats) goes to the taps at most this often while the engine is busy: at once after a pause. */
const FEEDBACK_EVERY_MS = 4;

interface Instance {
  pipeline: ShadowPipeline | undefined;
  sink: RecordSink | undefined;
  /** Why the instance could not be set up (a hook module that throws while loading): its exchanges are skipped. */
  failed: string | undefined;
  /** Exchanges skipped because of that. */
  failedCount: number;
  events: boolean;
  statsSentAt: number;
  statsTimer: NodeJS.Timeout | undefined;
  /** Work queued behind the registration (module hooks load asynchronously), so messages apply in order. */
  chain: Promise<void>;
  /** Set up (or failed to): what follows the registration need not wait for it. */
  ready: boolean;
  /** Operations queued on `chain` and not finished. */
  queued: number;
}

export class EngineHost {
  readonly #instances = new Map<number, Instance>();
  /** Closed instances keep answering stats(): their log may still be writing what close() had to leave behind. */
  readonly #closed = new Map<number, Instance>();
  readonly #feedback = new Map<number, FeedbackItem>();
  readonly #send: (feedback: EngineFeedback) => void;
  #flushScheduled = false;
  /** When the last feedback went out (performance.now()). */
  #sentAt = 0;
  /** Exchanges accepted and not settled yet, all instances together. */
  #inHand = 0;
  #drainCheck: Promise<void> | undefined;

  /** In the app's thread the tap hears at once (no thread to cross, nothing to batch); a worker batches per turn. */
  readonly #immediate: boolean;

  constructor(send: (feedback: EngineFeedback) => void, options: { immediate?: boolean } = {}) {
    this.#send = send;
    this.#immediate = options.immediate ?? false;
  }

  /** Sets an instance up: options as posted (module hooks imported here), or already resolved (in-thread). */
  register(id: number, options: Record<string, unknown> | ResolvedOptions, events: boolean, resolved = false): Promise<void> {
    const instance: Instance = { pipeline: undefined, sink: undefined, failed: undefined, failedCount: 0, events, statsSentAt: 0, statsTimer: undefined, chain: Promise.resolve(), ready: false, queued: 0 };
    this.#instances.set(id, instance);
    instance.chain = (resolved ? Promise.resolve(options as ResolvedOptions) : loadModuleHooks(options as Record<string, unknown>).then(resolveOptions)).then(
      (config) => this.#start(id, instance, config),
      (error: unknown) => this.#fail(instance, options as Record<string, unknown>, `the engine could not set up this middleware: ${errorMessage(error)}`),
    ).finally(() => (instance.ready = true));
    return instance.chain;
  }

  #start(id: number, instance: Instance, config: ResolvedOptions): void {
    const sink = config.logger ? appLoggerSink(config.logger) : openFileSink(config.logFile, { maxPendingBytes: config.maxPendingLogBytes });
    instance.sink = sink;
    instance.pipeline = new ShadowPipeline(config, sink, {
      // The tap's view of the engine (stats, queue) follows each exchange once it is taken up, throttled.
      started: () => {
        if (!this.#immediate) this.#itemFor(id);
      },
      settled: (heldBytes) => this.#settled(id, heldBytes),
      breaker: (target: string, state: BreakerState, reopensAt: number) => {
        (this.#itemFor(id).breakers ??= []).push([target, state, reopensAt]);
        if (this.#immediate) this.#flush();
      },
      event: (event: EngineEvent) => {
        if (!instance.events) return;
        (this.#itemFor(id).events ??= []).push(event);
        if (this.#immediate) this.#flush();
      },
    }, id);
  }

  /**
   * An instance whose hooks cannot load still has a log: each exchange handed to it ends there as a `skipped`
   * record with the reason, counted, and the tap learns the engine is unavailable.
   */
  #fail(instance: Instance, options: Record<string, unknown>, reason: string): void {
    instance.failed = reason;
    const logFile = typeof options.logFile === 'string' ? options.logFile : 'shadow.log';
    try {
      if (options.logger === undefined) instance.sink = openFileSink(logFile);
    } catch {
      // No log either: the exchanges are still counted (stats().skipped.engine_error).
    }
    process.emitWarning(`express-shadow: ${reason}; requests are logged as skipped (engine_error) and production is unaffected`, { code: 'EXPRESS_SHADOW_ENGINE' });
  }

  /** Runs one operation of an instance, after everything queued for it. Never throws; a failure rejects the result. */
  call<M extends EngineMethod>(id: number, method: M, args: Parameters<EngineCalls[M]>, takenIn?: () => void): Promise<void> {
    const instance = this.#instances.get(id);
    if (!instance) {
      takenIn?.();
      if (method === 'accept') this.#release(id, (args[0] as Exchange).heldBytes);
      return Promise.resolve();
    }
    if (method === 'accept') {
      this.#inHand++;
      engineLag.start();
    }
    // Once the instance is set up and nothing is queued for it, an exchange is taken at once: no promise and no
    // microtask per exchange. Until then (hooks still loading, or an operation still running that later ones must
    // follow, such as whenIdle), operations queue behind it in order.
    if (method === 'accept' && instance.ready && instance.queued === 0) {
      this.#accept(id, instance, args[0] as Exchange, takenIn);
      return DONE;
    }
    instance.queued++;
    const run = instance.chain.then(() => this.#apply(id, instance, method, args, takenIn)).finally(() => instance.queued--);
    instance.chain = run.catch(() => {});
    return run;
  }

  #accept(id: number, instance: Instance, exchange: Exchange, takenIn?: () => void): void {
    if (instance.pipeline) return instance.pipeline.accept(exchange, takenIn);
    takenIn?.();
    this.#skipFailed(instance, exchange);
    this.#settled(id, exchange.heldBytes);
  }

  async #apply(id: number, instance: Instance, method: EngineMethod, args: unknown[], takenIn?: () => void): Promise<void> {
    const pipeline = instance.pipeline;
    switch (method) {
      case 'accept':
        return this.#accept(id, instance, args[0] as Exchange, takenIn);
      case 'skip':
        return pipeline?.skip(args[0] as SkippedExchange);
      case 'summary':
        return pipeline?.writeSummary(args[0] as TapPeriod);
      case 'events':
        instance.events = args[0] as boolean;
        return;
      case 'whenIdle':
        await pipeline?.whenIdle();
        await instance.sink?.flush();
        // The tap reads stats() right after: the state as of now, whatever the throttle says.
        return this.#flush(true);
      case 'close':
        return this.#close(id, instance, args[0] as number, args[1] as TapPeriod);
    }
  }

  #skipFailed(instance: Instance, exchange: Exchange): void {
    instance.failedCount++;
    instance.sink?.write({
      type: 'skipped',
      requestId: exchange.requestId ?? 'unknown',
      timestamp: new Date().toISOString(),
      reason: 'engine_error',
      method: exchange.method,
      path: exchange.path,
      route: exchange.route,
      status: exchange.status,
      detail: instance.failed ?? 'the engine is not available',
    });
  }

  /** Drains the instance (up to `timeoutMs`), writes its last summary, then lets go of its sink. */
  async #close(id: number, instance: Instance, timeoutMs: number, period: TapPeriod): Promise<void> {
    const started = Date.now();
    this.#flush(true);
    if (instance.pipeline) {
      await instance.pipeline.drain(timeoutMs);
      instance.pipeline.writeSummary(period);
    }
    // The log gets what is left of the timeout, and at least a moment to write the records just made.
    await instance.sink?.close(Math.max(Math.min(timeoutMs, 1000), timeoutMs - (Date.now() - started)));
    const stats = this.stats(id);
    this.#instances.delete(id);
    this.#closed.set(id, instance);
    this.#feedback.delete(id);
    this.#send({ items: [{ id, settled: 0, settledBytes: 0, stats }], lagMs: engineLag.lagMs });
  }

  stats(id: number): EngineStats | undefined {
    const instance = this.#instances.get(id) ?? this.#closed.get(id);
    if (!instance) return undefined;
    if (instance.failed) return failedStats(instance);
    if (!instance.pipeline) return undefined;
    return { ...instance.pipeline.stats(), log: instance.sink!.stats(), engine: { lagMs: engineLag.lagMs, ...(instance.failed ? { failed: instance.failed } : {}) } };
  }

  /** Reopens every log file (after logrotate moved them). */
  reopen(): void {
    for (const { sink } of this.#instances.values()) sink?.reopen();
  }

  #release(id: number, heldBytes: number): void {
    const item = this.#itemFor(id);
    item.settled++;
    item.settledBytes += heldBytes;
  }

  #settled(id: number, heldBytes: number): void {
    this.#release(id, heldBytes);
    if (this.#immediate) this.#flush(); // in the app's thread the tap hears at once
    if (--this.#inHand === 0) this.#checkDrained();
  }

  /**
   * With nothing in hand, once the logs have written everything, the tap may let the process end: until then the
   * worker keeps it alive, so records already handed off are never lost to a process that simply ran out of work.
   */
  #checkDrained(): void {
    if (this.#inHand > 0 || this.#drainCheck) return;
    engineLag.stop();
    const sinks = [...this.#instances.values()].map(({ sink }) => sink?.flush().catch(() => {}));
    this.#drainCheck = Promise.all(sinks).then(() => {
      this.#drainCheck = undefined;
      if (this.#inHand > 0) return this.#checkDrained();
      // What the taps have not heard yet goes first (the throttle may hold it): 'drained' must come last.
      if (this.#feedback.size > 0) this.#flush();
      this.#send({ items: [], lagMs: 0, drained: true });
    });
  }

  #itemFor(id: number): FeedbackItem {
    let item = this.#feedback.get(id);
    if (!item) {
      item = { id, settled: 0, settledBytes: 0 };
      this.#feedback.set(id, item);
    }
    if (!this.#flushScheduled && !this.#immediate) {
      // Right after the slice of work that changed something (work-loop.ts), so the tap hears it before the next
      // turn's I/O; at saturation at most one message per FEEDBACK_EVERY_MS, each one costs the app's thread.
      this.#flushScheduled = true;
      const wait = this.#sentAt + FEEDBACK_EVERY_MS - performance.now();
      if (wait <= 0) queueMicrotask(() => this.#flush());
      else setTimeout(() => this.#flush(), wait);
    }
    return item;
  }

  /** Sends this turn's feedback; stats go with it at most every STATS_EVERY_MS per instance (or now, when forced). */
  #flush(force = false): void {
    this.#flushScheduled = false;
    if (this.#feedback.size === 0 && !force) return;
    this.#sentAt = performance.now();
    const now = Date.now();
    const items = [...this.#feedback.values()];
    this.#feedback.clear();
    for (const item of items) {
      const instance = this.#instances.get(item.id);
      if (!instance) continue;
      if (force || now >= instance.statsSentAt + STATS_EVERY_MS) {
        item.stats = this.stats(item.id);
        instance.statsSentAt = now;
      } else {
        // Throttled: the latest state still goes out once the interval has passed (one timer per instance).
        instance.statsTimer ??= setTimeout(() => {
          instance.statsTimer = undefined;
          if (this.#instances.has(item.id)) this.#itemFor(item.id);
        }, instance.statsSentAt + STATS_EVERY_MS - now).unref();
      }
    }
    if (force) {
      for (const [id, instance] of this.#instances) {
        if (items.some((item) => item.id === id)) continue;
        items.push({ id, settled: 0, settledBytes: 0, stats: this.stats(id) });
        instance.statsSentAt = now;
      }
    }
    this.#send({ items, lagMs: engineLag.lagMs });
  }
}

/** The stats of an instance that could not be set up: nothing mirrored, each exchange skipped with the reason. */
function failedStats(instance: Instance): EngineStats {
  const none = { count: 0, p50: null, p90: null, p99: null };
  return {
    mirrored: 0,
    succeeded: 0,
    failed: {},
    skipped: instance.failedCount > 0 ? { engine_error: instance.failedCount } : {},
    notMirrored: {},
    inFlight: 0,
    queued: 0,
    breakers: {},
    latencyMs: none,
    targets: {},
    ...(instance.sink ? { log: instance.sink.stats() } : {}),
    engine: { lagMs: 0, failed: instance.failed! },
  };
}

