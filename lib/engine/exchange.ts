/**
 * What crosses from the tap (main thread) to the engine (worker or in-thread): plain data only, so the same shape
 * can be posted to a worker, with its byte arrays transferred rather than copied.
 */
import type { BodySource, BreakerState, HeaderMap, NotMirroredReason, SkipReason } from '../types.js';

/** One production exchange the tap chose to mirror, snapshotted when it was seen and when it finished. */
export interface Exchange {
  /** Set when the app already asked for the id; otherwise the engine makes it (uuid v7 off the app's thread). */
  requestId: string | undefined;
  /** The id the client (`x-request-id`) or the app (`requestId` option) gave this request, when valid. */
  clientRequestId?: string;
  /** Method, request-target and headers as they were when the request reached the middleware. */
  method: string;
  path: string;
  headers: HeaderMap;
  /** Route pattern matched while production handled the request (`null` when none). */
  route: string | null;
  /** The request body exactly as sent to production (or re-serialised from `req.body`, see `bodySource`). */
  body: Uint8Array | undefined;
  bodySource: BodySource;
  status: number;
  responseHeaders: HeaderMap;
  /** Production's answer as written by the app, copied at write time, up to the capture cap. */
  response: CapturedAnswer;
  /** Milliseconds from the middleware seeing the request to the last byte of the response. */
  durationMs: number;
  /** Names of the targets the tap selected. */
  targets: string[];
  /** Bytes this exchange holds of the tap's budget; handed back through `settled`. */
  heldBytes: number;
  /** `Date.now()` when the tap handed it off. */
  handedOffAt: number;
}

interface CapturedAnswer {
  chunks: Uint8Array[];
  /** All bytes written, kept or not. */
  bytes: number;
  /** More was written than was kept (the capture cap, or the budget) or the capture was stopped. */
  truncated: boolean;
  /** Milliseconds from the request to the first non-empty write. */
  ttfbMs: number | undefined;
  /** Non-empty writes. */
  writes: number;
}

/** A request the tap decided not to mirror after production answered, logged with its reason. */
export interface SkippedExchange {
  requestId: string;
  clientRequestId?: string;
  method: string;
  path: string;
  route: string | null;
  status?: number;
  reason: SkipReason;
  detail?: string;
}

/** The tap's own counts for the summary record of a period. */
export interface TapPeriod {
  seen: number;
  notMirrored: Record<string, number>;
  /** Per target, requests not sent because its breaker was open. */
  breakerOpen: Record<string, number>;
  /** Requests shed at entry because the engine had no room, with a few of their ids. */
  shed: number;
  shedSample: string[];
}

/** What the engine tells the tap: bytes to release, breaker states to decide with, events for metrics. */
export interface EngineFeedback {
  /** An exchange was taken up: its calls started, or it was queued, shed or skipped (what stats() shows changed). */
  started?(): void;
  settled(heldBytes: number): void;
  breaker(target: string, state: BreakerState, reopensAt: number): void;
  event?(event: EngineEvent): void;
}

/** Events for metrics, sent only when metrics are registered. */
export type EngineEvent =
  | { kind: 'mirrored'; route: string | null; productionMs: number }
  | { kind: 'skipped'; reason: SkipReason; route: string | null }
  | { kind: 'notMirrored'; reason: NotMirroredReason }
  | { kind: 'shadowDone'; target: string; route: string | null; status?: number; errorCode?: string; durationMs: number }
  | { kind: 'compared'; target: string; route: string | null; match: boolean };

/** A body decoded and, when JSON, parsed: shared by the log record and the comparator. */
export interface DecodedBody {
  bytes: Buffer;
  /** Size of the whole body (more than `bytes.length` when the capture was cut). */
  totalBytes: number;
  truncated: boolean;
  isJson: boolean;
  json?: unknown;
}
