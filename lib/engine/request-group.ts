/**
 * The shapes of one mirrored request inside the engine, from the moment it is accepted until its last call ends.
 * A leaf of types: the pipeline, the call slots and the answer records all speak them.
 */
import type { BudgetHold } from '../byte-budget.js';
import type { ComparedAnswer, ShadowRequest } from '../types.js';
import type { Exchange } from './exchange.js';
import type { TargetRuntime } from './target-runtime.js';

/** An exchange once the engine has it: its id is made if the tap did not have one. */
export type Accepted = Exchange & { requestId: string; hookContext?: string };

/** A request accepted for mirroring: its production side, and its shadow calls until all have ended. */
export interface RequestGroup {
  exchange: Accepted;
  request: ShadowRequest;
  production: ComparedAnswer;
  /** Production's answer was longer than the capture cap: no comparison on a partial body. */
  productionTruncated: boolean;
  hold: BudgetHold;
  pending: number;
  /** Answers kept for comparison once every target has answered. */
  answers: KeptAnswer[];
}

export interface KeptAnswer {
  target: TargetRuntime;
  answer: ComparedAnswer | undefined;
  durationMs: number;
  error?: string;
}

/** One shadow call of a request: to one target, queued at `queuedAt`. */
export interface ShadowJob {
  group: RequestGroup;
  target: TargetRuntime;
  isProbe: boolean;
  url: URL | undefined;
  queuedAt: number;
}

/** A target the breakers let through for one request; a probe is the one call a half-open breaker allows. */
export interface Admitted {
  target: TargetRuntime;
  isProbe: boolean;
}
