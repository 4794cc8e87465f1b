/** What the tap tells about each request, for metrics (metrics.ts). A leaf, shared by the tap and the metrics. */
import type { NotMirroredReason, SkipReason } from './types.js';

/** Receives what happens, for metrics. Every call is guarded: an observer that throws changes nothing. */
export interface ShadowObserver {
  seen?(): void;
  notMirrored?(reason: NotMirroredReason): void;
  skipped?(reason: SkipReason, route: string | null): void;
  mirrored?(route: string | null, productionDurationMs: number): void;
  shadowDone?(target: string, route: string | null, outcome: { status?: number; errorCode?: string }, durationMs: number): void;
  compared?(target: string, route: string | null, match: boolean): void;
}
