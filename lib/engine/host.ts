/**
 * The engines of one thread: a pipeline per middleware instance, and one record sink per log file shared by every
 * instance that writes to it (a thousand per-route instances hold one descriptor, not a thousand).
 */
import type { ResolvedOptions } from '../options.js';
import { appLoggerSink, openFileSink, type RecordSink } from './sink.js';
import type { EngineFeedback, Exchange, SkippedExchange, TapPeriod } from './exchange.js';
import { ShadowPipeline, type EngineStats } from './pipeline.js';

interface Instance {
  pipeline: ShadowPipeline;
  sink: RecordSink;
}

export class EngineHost {
  readonly #instances = new Map<number, Instance>();
  /** Closed instances keep answering stats(): their log may still be writing what close() had to leave behind. */
  readonly #closed = new Map<number, Instance>();

  register(id: number, config: ResolvedOptions, feedback: EngineFeedback): void {
    // File sinks are shared per path within this thread (one descriptor), app loggers are the app's own.
    const sink = config.logger ? appLoggerSink(config.logger) : openFileSink(config.logFile, { maxPendingBytes: config.maxPendingLogBytes });
    this.#instances.set(id, { pipeline: new ShadowPipeline(config, sink, feedback), sink });
  }

  has(id: number): boolean {
    return this.#instances.has(id);
  }

  accept(id: number, exchange: Exchange): boolean {
    const instance = this.#instances.get(id);
    if (!instance) return false;
    instance.pipeline.accept(exchange);
    return true;
  }

  skip(id: number, skipped: SkippedExchange): void {
    this.#instances.get(id)?.pipeline.skip(skipped);
  }

  writeSummary(id: number, period: TapPeriod): void {
    this.#instances.get(id)?.pipeline.writeSummary(period);
  }

  stats(id: number): EngineStats | undefined {
    const instance = this.#instances.get(id) ?? this.#closed.get(id);
    return instance && { ...instance.pipeline.stats(), log: instance.sink.stats() };
  }

  /** Resolves once the instance has nothing in hand and its records have reached the sink. */
  async whenIdle(id: number): Promise<void> {
    const instance = this.#instances.get(id);
    if (!instance) return;
    await instance.pipeline.whenIdle();
    await instance.sink.flush();
  }

  /** Drains the instance (up to `timeoutMs`), writes its last summary, then lets go of its sink; the last user closes the file. */
  async close(id: number, timeoutMs: number, lastPeriod: TapPeriod): Promise<EngineStats | undefined> {
    const instance = this.#instances.get(id);
    if (!instance) return undefined;
    const started = Date.now();
    await instance.pipeline.drain(timeoutMs);
    instance.pipeline.writeSummary(lastPeriod);
    // The log gets what is left of the timeout, and at least a moment to write the records just made.
    await instance.sink.close(Math.max(Math.min(timeoutMs, 1000), timeoutMs - (Date.now() - started)));
    this.#instances.delete(id);
    this.#closed.set(id, instance);
    return { ...instance.pipeline.stats(), log: instance.sink.stats() };
  }

  /** Resolves once every instance's records have reached their log (or were dropped). */
  async flushAll(): Promise<void> {
    await Promise.all([...this.#instances.values(), ...this.#closed.values()].map(({ sink }) => sink.flush().catch(() => {})));
  }

  /** Reopens every log file (after logrotate moved them). */
  reopen(): void {
    for (const { sink } of this.#instances.values()) sink.reopen();
  }

  get size(): number {
    return this.#instances.size;
  }
}
