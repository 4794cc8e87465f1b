/** Messages between the tap (main thread) and the engine's worker thread. */
import type { BreakerState } from '../types.js';
import type { EngineEvent, Exchange, SkippedExchange, TapPeriod } from './exchange.js';
import type { EngineStats } from './pipeline.js';

export type ToEngine =
  | { op: 'register'; id: number; seq: number; options: Record<string, unknown>; events: boolean }
  | { op: 'exchange'; id: number; exchange: Exchange }
  | { op: 'skip'; id: number; skipped: SkippedExchange }
  | { op: 'summary'; id: number; period: TapPeriod }
  | { op: 'events'; id: number; on: boolean }
  | { op: 'idle'; id: number; seq: number }
  | { op: 'close'; id: number; seq: number; timeoutMs: number; period: TapPeriod }
  | { op: 'reopen' }
  /** Messages queued in one turn of the app's loop, posted at once. */
  | { op: 'batch'; messages: ToEngine[] }
  | { op: 'retire' };

export type FromEngine =
  | { op: 'feedback'; items: FeedbackItem[] }
  | { op: 'reply'; seq: number; error?: string }
  /** Nothing in hand and every log written: the worker need not keep the process alive. */
  | { op: 'drained' };

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
