/**
 * Messages between the tap (main thread) and the engine's worker thread. The configuration crosses once per
 * middleware instance (`register`); after that every message is one operation of the engine interface
 * (`EngineHost.call(id, method, args)`), batched per turn of the app's loop into one postMessage.
 */
import type { BreakerState } from '../types.js';
import type { EngineEvent, Exchange, SkippedExchange, TapPeriod } from './exchange.js';
import type { EngineStats } from './engine-counts.js';

export type ToEngine =
  | { op: 'register'; id: number; options: Record<string, unknown>; events: boolean }
  /**
   * `seq` when the tap waits for the operation to end (whenIdle, close); `n`, an exchange's number, on `accept`:
   * the worker notes the last it took in (watchdog.ts), so the ones it never started can go to the next worker.
   */
  | { op: 'call'; id: number; method: EngineMethod; args: unknown[]; seq?: number; n?: number }
  | { op: 'reopen' }
  /** No instance left: the worker stops listening and ends once its logs are written. */
  | { op: 'retire' };

export type FromEngine =
  | { op: 'ready' }
  | { op: 'feedback'; feedback: EngineFeedback }
  | { op: 'reply'; seq: number; error?: string }
  /** A warning raised on the engine's thread, raised again on the app's. */
  | { op: 'warning'; message: string; code?: string; type?: string }
;

/** What the engine tells the taps after a turn of its loop. */
export interface EngineFeedback {
  items: FeedbackItem[];
  /** How far behind the engine's loop runs, ms (0 when idle): the tap sheds while it is over `maxEngineLagMs`. */
  lagMs: number;
  /** Nothing in hand and every log written: the worker need not keep the process alive. */
  drained?: true;
}

/** What one instance's tap learns in one turn of the engine's loop. */
export interface FeedbackItem {
  id: number;
  /** Exchanges finished (or dropped) since the last item, and the tap's bytes they held. */
  settled: number;
  settledBytes: number;
  breakers?: [target: string, state: BreakerState, reopensAt: number][];
  events?: EngineEvent[];
  stats?: EngineStats | undefined;
}

/** The operations a tap asks of its engine instance: one name each, from the tap to the pipeline. */
export interface EngineCalls {
  accept(exchange: Exchange): void;
  skip(skipped: SkippedExchange): void;
  summary(period: TapPeriod): void;
  events(on: boolean): void;
  whenIdle(): Promise<void>;
  close(timeoutMs: number, period: TapPeriod): Promise<void>;
}
export type EngineMethod = keyof EngineCalls;
