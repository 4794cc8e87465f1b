/**
 * The counts of one engine instance: what `stats()` shows, and what the next summary record adds to the tap's own
 * counts of the period. Plain numbers and bounded windows only: nothing here grows with traffic.
 */
import { increment, LatencyWindow } from '../counters.js';
import type { BreakerState, LatencySummary, ShadowLogRecord, SinkStats, TargetStats } from '../types.js';
import type { TapPeriod } from './exchange.js';
import type { TargetRuntime } from './target-runtime.js';

/** The engine's side of `stats()`. */
export interface EngineStats {
  mirrored: number;
  succeeded: number;
  failed: Record<string, number>;
  skipped: Record<string, number>;
  notMirrored: Record<string, number>;
  inFlight: number;
  queued: number;
  breakers: Record<string, BreakerState>;
  latencyMs: LatencySummary;
  targets: Record<string, Omit<TargetStats, 'sampleRate'>>;
  /** The log sink's counters (added by the host, which owns the sink). */
  log?: SinkStats;
  /** How far behind the engine's loop runs (ms), and why the instance could not be set up, if it could not. */
  engine?: { lagMs: number; failed?: string };
}

/** Requests shed keep a few ids for the summary record. */
const SHED_SAMPLE = 10;

export class EngineCounts {
  readonly #totals = { mirrored: 0, succeeded: 0 };
  readonly #failed: Record<string, number> = Object.create(null);
  readonly #skipped: Record<string, number> = Object.create(null);
  readonly #notMirrored: Record<string, number> = Object.create(null);
  readonly #latency = new LatencyWindow();
  #period = newPeriod();

  /** A request whose calls start: counted once, whatever the number of its targets. */
  mirrored(): void {
    this.#totals.mirrored++;
    this.#period.mirrored++;
  }

  shed(requestId: string): void {
    increment(this.#skipped, 'queue_full');
    this.#period.shed++;
    if (this.#period.shedSample.length < SHED_SAMPLE) this.#period.shedSample.push(requestId);
  }

  skipped(reason: string): void {
    increment(this.#skipped, reason);
  }

  notMirrored(reason: string): void {
    increment(this.#notMirrored, reason);
    increment(this.#period.notMirrored, reason);
  }

  failed(target: TargetRuntime, code: string): void {
    increment(this.#failed, code);
    increment(target.failed, code);
  }

  succeeded(target: TargetRuntime): void {
    this.#totals.succeeded++;
    target.succeeded++;
  }

  latency(target: TargetRuntime, durationMs: number): void {
    target.latency.add(durationMs);
    this.#latency.add(durationMs);
  }

  /** Ends the period: its summary record (the tap's counts with the engine's), or undefined when nothing happened. */
  summary(tap: TapPeriod, targets: Iterable<TargetRuntime>): ShadowLogRecord | undefined {
    const ended = this.#period;
    this.#period = newPeriod();
    const breakerOpen: Record<string, number> = { ...tap.breakerOpen };
    for (const target of targets) {
      if (target.breakerOpenInPeriod > 0) increment(breakerOpen, target.config.name, target.breakerOpenInPeriod);
      target.breakerOpenInPeriod = 0;
    }
    const notMirrored = { ...tap.notMirrored };
    for (const [reason, count] of Object.entries(ended.notMirrored)) increment(notMirrored, reason, count);
    if (tap.seen === 0 && ended.mirrored === 0 && tap.shed === 0 && ended.shed === 0) return undefined;
    const shed = tap.shed + ended.shed;
    return {
      type: 'summary',
      timestamp: new Date().toISOString(),
      intervalMs: Date.now() - ended.startedAt,
      seen: tap.seen,
      mirrored: ended.mirrored,
      notMirrored,
      ...(shed > 0 ? { shed: { queue_full: shed, sampleRequestIds: [...tap.shedSample, ...ended.shedSample].slice(0, SHED_SAMPLE) } } : {}),
      ...(Object.keys(breakerOpen).length > 0 ? { breakerOpen } : {}),
    } as ShadowLogRecord;
  }

  stats(targetList: Iterable<TargetRuntime>, inFlight: number, queued: number): EngineStats {
    const breakers: Record<string, BreakerState> = {};
    const targets: EngineStats['targets'] = {};
    for (const target of targetList) {
      breakers[target.config.name] = target.breaker.state;
      targets[target.config.name] = {
        role: target.config.role,
        mirrored: target.mirrored,
        succeeded: target.succeeded,
        failed: { ...target.failed },
        breaker: target.breaker.state,
        latencyMs: target.latency.summary(),
      };
    }
    return {
      mirrored: this.#totals.mirrored,
      succeeded: this.#totals.succeeded,
      failed: { ...this.#failed },
      skipped: { ...this.#skipped },
      notMirrored: { ...this.#notMirrored },
      inFlight,
      queued,
      breakers,
      latencyMs: this.#latency.summary(),
      targets,
    };
  }
}

function newPeriod() {
  return { startedAt: Date.now(), mirrored: 0, notMirrored: Object.create(null) as Record<string, number>, shed: 0, shedSample: [] as string[] };
}
