/**
 * The engines of one thread: a pipeline per middleware instance, and one record sink per log file shared by every
 * instance that writes to it (a thousand per-route instances hold one descriptor, not a thousand).
 */
import { resolve } from 'node:path';
import type { ResolvedOptions } from '../options.js';
import { createRecordSink, type RecordSink } from '../record.js';
import type { EngineFeedback, Exchange, SkippedExchange, TapPeriod } from './exchange.js';
import { ShadowPipeline, type EngineStats } from './pipeline.js';

interface SharedSink {
  sink: RecordSink;
  users: number;
}

interface Instance {
  pipeline: ShadowPipeline;
  sink: RecordSink;
  release: () => Promise<void>;
}

export class EngineHost {
  readonly #instances = new Map<number, Instance>();
  readonly #files = new Map<string, SharedSink>();

  register(id: number, config: ResolvedOptions, feedback: EngineFeedback): void {
    const { sink, release } = this.#acquireSink(config);
    this.#instances.set(id, { pipeline: new ShadowPipeline(config, sink, feedback), sink, release });
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
    return this.#instances.get(id)?.pipeline.stats();
  }

  /** Resolves once the instance has nothing in hand and its records have reached the sink. */
  async whenIdle(id: number): Promise<void> {
    const instance = this.#instances.get(id);
    if (!instance) return;
    await instance.pipeline.whenIdle();
    await instance.sink.flush?.();
  }

  /** Drains the instance (up to `timeoutMs`), writes its last summary, then lets go of its sink; the last user closes the file. */
  async close(id: number, timeoutMs: number, lastPeriod: TapPeriod): Promise<EngineStats | undefined> {
    const instance = this.#instances.get(id);
    if (!instance) return undefined;
    const started = Date.now();
    await instance.pipeline.drain(timeoutMs);
    instance.pipeline.writeSummary(lastPeriod);
    await withTimeout(instance.release(), Math.max(0, timeoutMs - (Date.now() - started)) + 1000);
    this.#instances.delete(id);
    return instance.pipeline.stats();
  }

  /** Reopens every log file (after logrotate moved them). */
  reopen(): void {
    for (const { sink } of this.#files.values()) sink.reopen?.();
  }

  get size(): number {
    return this.#instances.size;
  }

  #acquireSink(config: ResolvedOptions): { sink: RecordSink; release: () => Promise<void> } {
    if (config.logger) {
      const sink = createRecordSink(config.logger, config.logFile);
      return { sink, release: () => sink.close() };
    }
    const path = resolve(config.logFile);
    let shared = this.#files.get(path);
    if (!shared) {
      shared = { sink: createRecordSink(undefined, path), users: 0 };
      this.#files.set(path, shared);
    }
    shared.users++;
    const entry = shared;
    return {
      sink: entry.sink,
      release: async () => {
        entry.users--;
        if (entry.users > 0) {
          await entry.sink.flush?.();
          return;
        }
        this.#files.delete(path);
        await entry.sink.close();
      },
    };
  }
}

function withTimeout(promise: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([promise.catch(() => {}), new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]).finally(() => clearTimeout(timer));
}
