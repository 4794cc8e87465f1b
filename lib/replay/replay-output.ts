/**
 * The replay's output log: records marked as replayed (when, from which logs, at what original time), made safe to
 * log, and written through the engine's file sink, opened at the first record. Nothing is written in a dry run.
 */
import { resolve } from 'node:path';
import { concatenatePayloads } from '../engine/stream-events.js';
import type { RecordSink } from '../engine/sink-types.js';
import { safeRecord } from '../engine/safe-record.js';
import type { AnswerLimits } from '../engine/answers.js';
import type { SinkStats, ShadowLogRecord } from '../types.js';
import type { RecordContext } from './records.js';
import type { ReplaySettings } from './replay-options.js';

/** Bytes of records waiting for the disk before the replay waits for them (the sink drops past 16 MiB). */
const MAX_PENDING_LOG_BYTES = 4 * 1_048_576;

export class ReplayOutput {
  readonly #settings: ReplaySettings;
  readonly #sources: string[];
  #sink: RecordSink | undefined;
  #ctx: RecordContext | undefined;

  constructor(
    settings: ReplaySettings,
    sources: string[],
    /** Opens the output log (engine/sink.ts's `openFileSink`, loaded with the rest of the engine when a replay runs). */
    private readonly openSink: (path: string) => RecordSink,
  ) {
    this.#settings = settings;
    this.#sources = sources;
  }

  /** What the records of one request are built with: its replay marker stamped now. */
  context(originalTimestamp: string, approximate: boolean): RecordContext {
    const engine = this.#settings.engine;
    this.#ctx ??= {
      config: engine,
      limits: limitsOf(this.#settings),
      name: this.#settings.name,
      marker: { at: '', source: this.#sources, originalTimestamp: '' },
    };
    return { ...this.#ctx, marker: { at: new Date().toISOString(), source: this.#sources, originalTimestamp, ...(approximate ? { approximate: true as const } : {}) } };
  }

  write(record: ShadowLogRecord): void {
    const out = this.#settings.out;
    if (this.#settings.dryRun || out === undefined) return;
    this.#sink ??= this.openSink(resolve(this.#settings.cwd, out));
    this.#sink.write(safeRecord(record, this.#settings.engine.maxLoggedBodyBytes));
  }

  /** A disk slower than the candidate slows the replay down instead of dropping records. */
  async keepUp(): Promise<void> {
    if (this.#sink !== undefined && this.#sink.stats().pendingBytes > MAX_PENDING_LOG_BYTES) await this.#sink.flush();
  }

  async close(): Promise<void> {
    await this.#sink?.close(10_000);
  }

  stats(): SinkStats | undefined {
    return this.#sink?.stats();
  }
}

function limitsOf(settings: ReplaySettings): AnswerLimits {
  const engine = settings.engine;
  return {
    maxBytes: engine.maxShadowResponseBytes,
    maxLoggedBodyBytes: engine.maxLoggedBodyBytes,
    assemble: engine.assemble ?? concatenatePayloads,
    bodies: engine.secrets.bodies,
    logResponseBodies: engine.secrets.logBodies.response,
  };
}
