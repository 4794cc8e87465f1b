/**
 * Public shapes of `replayShadowLog`: its options, what it counts, and what it reports per request.
 */
import type { ReadStats } from '../read/index.js';
import type { BreakerOptions, CompareOptions, HeaderMap, ShadowRequest, ShadowRequestChange, SinkStats } from '../types.js';

/** A `transformRequest` hook: the middleware's contract. */
export type ReplayTransformRequest = (request: ShadowRequest) => ShadowRequestChange | Promise<ShadowRequestChange>;

/**
 * Options of {@link replayShadowLog}.
 *
 * @example
 * ```ts
 * const run = replayShadowLog(['logs/shadow.log'], { target: 'http://127.0.0.1:9003', name: 'v3', out: 'replay.log', methods: ['POST'] });
 * const summary = await run.done;
 * console.log(summary.stats.replayed, summary.stats.notReplayable);
 * ```
 */
export interface ReplayOptions {
  /** Base URL of the candidate. The host is fixed by it (same SSRF rules as the middleware's `target`). Required. */
  target: string;
  /** Name of the candidate in the records (`target` field). Default: the target URL. */
  name?: string;
  /** JSON-lines file the records are appended to. Required unless `dryRun`. */
  out?: string;
  /** Requests in flight at once. Default 16. */
  concurrency?: number;
  /** Bytes of request bodies in flight at once (one larger request still goes alone). Default 64 MiB. */
  maxBytesInFlight?: number;
  /** Requests per second (token bucket, no burst). Default: as fast as `concurrency` allows. */
  rate?: number;
  /** Replays with the original inter-arrival times divided by `speed` (2 = twice as fast). Default: off. */
  speed?: number;
  /** Only requests of this route pattern (`/predict/:id`), as logged. */
  route?: string;
  /** Only requests logged at or after this time (ISO 8601). */
  since?: string;
  /** Only requests logged before this time (ISO 8601). */
  until?: string;
  /** Fraction of requests replayed, 0..1, deterministic by requestId (the same ids in every run). Default 1. */
  sample?: number;
  /** Stop after sending this many requests. Default: no limit. */
  limit?: number;
  /** Per request, ms. Default 5000. */
  timeoutMs?: number;
  /** Headers added to every request (the candidate's own credentials, never taken from the log). */
  headers?: HeaderMap;
  /**
   * Only these methods are replayed (upper case), e.g. `['POST']`. Default: every method in the log, which is what the
   * middleware mirrored live (its own `methods` option decided what is safe to run twice).
   */
  methods?: string[];
  /** The middleware's hook: a function, or the path of a module whose default export (or `transformRequest` export) is one. */
  transformRequest?: ReplayTransformRequest | string;
  /**
   * Turns the events of a streamed answer into the output compared, as the middleware's `assemble` (a function, or
   * the path of a module whose default export, or `assemble` export, is one). Use the same one as the middleware,
   * or streamed answers compare the production output it assembled with a differently assembled candidate output.
   * Default: the payloads concatenated.
   */
  assemble?: ((events: string[]) => string) | string;
  /** Options of the default comparator, as in the middleware (`ignorePaths`, `numericTolerance`, `maxDifferences`). Default `{}`. */
  compare?: CompareOptions;
  /**
   * The candidate's breaker: once it opens, the replay stops (resumable). Default `{ failureThreshold: 5 }`. Until the
   * candidate has answered, and after each failure, fewer requests are in flight than failures are still allowed, so a
   * candidate that is down gets at most `failureThreshold` requests.
   */
  breaker?: Pick<BreakerOptions, 'failureThreshold'>;
  /** At most this much of an answer is read. Default 1 MiB. */
  maxShadowResponseBytes?: number;
  /** Nothing is sent or written; each request that would be sent is reported as a `dry_run` outcome. */
  dryRun?: boolean;
  /** Skip requestIds that already have a shadow record of `name` in `out`, and append. Without it, a non-empty `out` is refused. */
  resume?: boolean;
  /** Stops the replay: no new request is sent, those in flight finish and are written. */
  signal?: AbortSignal;
  /** Called with each request's outcome, in completion order. */
  onOutcome?: (outcome: ReplayOutcome) => void;
  /** Called when the reader reports progress (bytes of the logs read). */
  onProgress?: (progress: { bytesRead: number; bytesTotal: number }) => void;
  /** Join window of the reader over the source logs, ms. Default 60 000. */
  windowMs?: number;
  /** Directory relative paths are resolved against. Default `process.cwd()`. */
  cwd?: string;
}

/**
 * Why a logged request was not replayed. None of them is guessed at: the bytes production received are not in the log.
 * - `method_not_allowed`: its method is not in `methods` (counted by method in `ReplayStats.methodsLeftOut`).
 * - `body_not_logged`: only the body's size and hash were logged (`logBodies`).
 * - `body_truncated`: the body was cut at `maxLoggedBodyBytes`.
 * - `body_multipart`: multipart bodies are logged as a description of their parts, not their bytes.
 * - `body_redacted`: the logged body holds masked values (`[REDACTED]`), which would be sent as data.
 * - `path_redacted`: the path holds a masked value outside the query.
 * - `bad_path`: the path cannot be sent to the target (not origin-form, or it would leave the target).
 * - `production_answer_not_logged` / `production_answer_truncated`: nothing to compare the candidate's answer with.
 * - `not_mirrored`: the source log holds only a `skipped` record for it.
 * - `no_production_record`: the source log holds shadow records without their production record.
 */
export type NotReplayableReason =
  | 'method_not_allowed'
  | 'body_not_logged'
  | 'body_truncated'
  | 'body_multipart'
  | 'body_redacted'
  | 'path_redacted'
  | 'bad_path'
  | 'production_answer_not_logged'
  | 'production_answer_truncated'
  | 'not_mirrored'
  | 'no_production_record';

/** Why a logged request was left out on purpose. */
export type FilteredReason = 'route' | 'time' | 'sample' | 'already_replayed' | 'duplicate';

/** Counts of a replay; live while it runs, final once `done` resolved. */
export interface ReplayStats {
  /** Requests read from the logs (entries). */
  read: number;
  /** Left out by `route`, `since`/`until`, `sample`, `resume`, or because the request was already taken in this run (`duplicate`). */
  filtered: Record<FilteredReason, number>;
  /** The replay stopped reading because `limit` requests were sent. */
  limitReached: boolean;
  /** Could not be replayed faithfully, by reason. */
  notReplayable: Partial<Record<NotReplayableReason, number>>;
  /** Requests left out because their method is not in `methods`, by method: what `--methods` would have to name. */
  methodsLeftOut: Record<string, number>;
  /** Sent to the candidate (or, with `dryRun`, that would have been). */
  replayed: number;
  /** Of those, replayed from a body re-serialised from `req.body` (`bodySource: "parsed"`): flagged `approximate`. */
  approximate: number;
  /** Of those, sent without logged credential headers or query parameters (masked in the log). */
  credentialsDropped: number;
  /** Answered with a status the breaker does not count as a failure. */
  succeeded: number;
  /** Failed: error code (`timeout`, `ECONNREFUSED`) or `status_5xx`, with counts. */
  failed: Record<string, number>;
  compared: number;
  matched: number;
  inFlight: number;
  /** Largest number of body bytes in flight at once. */
  peakBytesInFlight: number;
}

/** The `replay` field of records written by a replay. */
export interface ReplayMarker {
  /** When the request was replayed (ISO 8601). */
  at: string;
  /** The source logs, as given. */
  source: string[];
  /** When production answered it originally (the source production record's timestamp). */
  originalTimestamp: string;
  /** `true` when the body was re-serialised from `req.body` in production (`bodySource: "parsed"`), so may differ in bytes. */
  approximate?: true;
}

/** What happened to one request. */
export type ReplayOutcome =
  | { kind: 'replayed'; requestId: string; method: string; path: string; status?: number; error?: string; match?: boolean; approximate: boolean }
  | { kind: 'dry_run'; requestId: string; method: string; url: string; headers: HeaderMap; bodyBytes: number; approximate: boolean }
  | { kind: 'not_replayable'; requestId: string; reason: NotReplayableReason };

/** Why a replay ended. */
export type ReplayEnd =
  /** Every selected request was replayed (or `limit` was reached). */
  | 'completed'
  /** `signal` aborted it. */
  | 'stopped'
  /** The candidate failed `breaker.failureThreshold` times in a row. */
  | 'breaker_open';

export interface ReplaySummary {
  end: ReplayEnd;
  /** Why the breaker opened, when `end` is `breaker_open`. */
  breakerReason?: string;
  stats: ReplayStats;
  /** Counts of reading the source logs. */
  reading: ReadStats;
  /** The output file's counters: records written, and dropped by reason (a disk error). Absent when nothing was written. */
  log?: SinkStats;
}

/** A running replay: `stats` is live; `done` resolves when it ended and every record is written. It never rejects for a request's sake. */
export interface ReplayRun {
  readonly stats: ReplayStats;
  readonly done: Promise<ReplaySummary>;
  /** Same as aborting `signal`. */
  stop(): void;
}
