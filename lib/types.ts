/**
 * Public shapes of express-shadow: the options and every record written to the log.
 * The log is JSON lines; each line is one of the `ShadowLogRecord` variants below.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'winston';
import type { ExpressRequestOr, ExpressResponseOr, PromRegistryOr } from './optional-peers.js';

/**
 * The request the hooks (`filter`, `sampleBy`, `mirrorIf`) receive by default: Express's `Request` when
 * `@types/express` is installed, Node's `IncomingMessage` otherwise. A hook typed with `IncomingMessage` is accepted
 * either way; for a request type of your own, pass it as the first type argument of `shadowMiddleware`.
 */
export type ShadowHookRequest = ExpressRequestOr<IncomingMessage>;

/** The response `mirrorIf` receives by default: Express's `Response` with `@types/express`, `ServerResponse` otherwise. */
export type ShadowHookResponse = ExpressResponseOr<ServerResponse>;

/** A prom-client `Registry` when prom-client is installed; any object otherwise (it is checked at run time). */
export type ShadowMetricsRegistry = PromRegistryOr<object>;

/** A body as it appears in the log: parsed JSON, UTF-8 text, or base64 of the raw bytes. */
export interface LoggedBody {
  /** Parsed JSON (content type JSON and it parsed), a UTF-8 string (text), or base64 (anything else). Absent when there was no body. */
  body?: unknown;
  /** Present and `"base64"` when `body` holds base64 of the bytes. */
  bodyEncoding?: 'base64';
  /** `true` when the body was longer than `maxLoggedBodyBytes` (or the capture cap) and was cut. */
  truncated?: true;
  /** Size in bytes of the whole body as sent (before truncation, after decompression when it was compressed). */
  bodyBytes?: number;
}

/** Measurements of a streamed (chunked) answer. */
export interface StreamMeasurements {
  /** Milliseconds to the first body byte. */
  ttfbMs: number;
  /** Body chunks written (production) or received (shadow). */
  chunks: number;
  /** Server-sent events (`text/event-stream`) or JSON lines (`application/x-ndjson`, `application/jsonl`) seen. */
  events?: number;
  /** The output assembled from the events (capped at `maxLoggedBodyBytes`), what the comparison looks at. */
  assembled?: string;
}

/** Where the mirrored request body came from. */
export type BodySource =
  /** The exact bytes the client sent, captured off the request stream. */
  | 'raw'
  /** A parser had already consumed the stream, so `req.body` was re-serialised. */
  | 'parsed'
  /** The request had no body. */
  | 'none';

export type HeaderMap = Record<string, string | string[]>;

/** Written once per mirrored request, when production has finished answering. */
export interface ProductionRecord {
  type: 'production';
  requestId: string;
  /** ISO 8601 time the production response finished. */
  timestamp: string;
  method: string;
  /** `req.originalUrl`: path and query as the client sent them. */
  path: string;
  /** The matched route pattern (`req.baseUrl + req.route.path`), or `null` when no route matched. */
  route: string | null;
  status: number;
  /** Milliseconds from the middleware seeing the request to the last byte of the response. */
  durationMs: number;
  /** Names of the targets this request is sent to (one `shadow` record follows for each). */
  targets?: string[];
  request: { headers: HeaderMap; bodySource: BodySource } & LoggedBody;
  response: { headers: HeaderMap; stream?: StreamMeasurements } & LoggedBody;
}

/** Code of a shadow call that produced no response. */
export type ShadowErrorCode =
  | 'timeout'
  | 'cancelled'
  | 'breaker_open'
  | 'ECONNREFUSED'
  | 'ECONNRESET'
  | 'EPIPE'
  | 'ENOTFOUND'
  | 'EHOSTUNREACH'
  | 'HPE_INVALID_CONSTANT'
  | 'bad_response'
  | (string & {});

/** Written once per mirrored request, when the shadow call has ended. */
export interface ShadowRecord {
  type: 'shadow';
  requestId: string;
  timestamp: string;
  /** The shadow target's name (its base URL unless named). */
  target: string;
  /** HTTP status of the shadow's answer; absent when `error` is set. */
  status?: number;
  /** Milliseconds from sending the shadow request to its last byte (or the error). */
  durationMs: number;
  response?: { headers: HeaderMap } & LoggedBody & {
    /** `true` when the shadow sent more than `maxShadowResponseBytes` and reading stopped there. */
    responseTruncated?: true;
    stream?: StreamMeasurements;
  };
  /** `"secondary"` for the production replica used to measure noise. */
  role?: 'secondary';
  error?: { code: ShadowErrorCode; message: string };
}

/** Why a request that was to be mirrored was not. Logged one record per request. */
export type SkipReason =
  | 'body_too_large'
  | 'aborted'
  | 'queue_full'
  | 'bad_url'
  | 'hook_error'
  | 'body_unavailable'
  | 'closing'
  | (string & {});

/** Written for a request that was to be mirrored but was not. */
export interface SkippedRecord {
  type: 'skipped';
  requestId: string;
  timestamp: string;
  reason: SkipReason;
  method: string;
  path: string;
  route: string | null;
  /** Production status, when production answered. */
  status?: number;
  /** Extra detail (the error message of a hook that threw, the byte count of an oversized body). */
  detail?: string;
}

/** Why a request was left out on purpose. Counted, never logged one by one. */
export type NotMirroredReason =
  | 'sampled_out'
  | 'filtered'
  | 'method'
  | 'production_status'
  | 'disabled'
  | 'breaker_open'
  | (string & {});

/** Periodic count of requests left out on purpose (and of breaker-open drops), written every `summaryIntervalMs` when non-zero. */
export interface SummaryRecord {
  type: 'summary';
  timestamp: string;
  /** Length of the period these counts cover, in ms. */
  intervalMs: number;
  seen: number;
  mirrored: number;
  notMirrored: Record<string, number>;
  /** Per target, requests not sent because its breaker was open. */
  breakerOpen?: Record<string, number>;
}

export type BreakerState = 'closed' | 'open' | 'half_open';

/** Written on every circuit-breaker state change. */
export interface BreakerRecord {
  type: 'breaker';
  timestamp: string;
  target: string;
  state: BreakerState;
  reason: string;
}

/** One place where the production and shadow answers differ. `path` is a JSON path such as `$.items[0].label`. */
export interface Difference {
  path: string;
  production?: unknown;
  shadow?: unknown;
}

/** Written when both answers of a request are in and comparison is on. */
export interface ComparisonRecord {
  type: 'comparison';
  requestId: string;
  timestamp: string;
  target: string;
  statusMatch: boolean;
  match: boolean;
  differences: Difference[];
  /** `true` when there were more differences than the cap and the list was cut. */
  differencesTruncated?: true;
  score?: number;
  /** Set when a custom comparator or `transformResponse` threw; `match` is then false. */
  error?: string;
  /** `"secondary"`: this compares production with its own replica; its differences are noise. */
  role?: 'secondary';
  /** Paths of `differences` where production and the secondary also differed for this request. */
  noise?: string[];
  /** `match`, ignoring the differences at noisy paths. Present when a secondary answered this request. */
  matchWithoutNoise?: boolean;
  /** Shadow duration minus production duration, in ms. */
  latencyDeltaMs: number;
}

export type ShadowLogRecord =
  | ProductionRecord
  | ShadowRecord
  | SkippedRecord
  | SummaryRecord
  | BreakerRecord
  | ComparisonRecord;

/** What a comparator receives for each side. */
export interface ComparedAnswer {
  status: number;
  headers: HeaderMap;
  /** Parsed JSON when the body was JSON, otherwise the raw bytes. */
  json?: unknown;
  isJson: boolean;
  bytes: Buffer;
}

export interface ComparisonResult {
  match: boolean;
  differences?: Difference[];
  score?: number;
}

export type Comparator = (production: ComparedAnswer, shadow: ComparedAnswer) => ComparisonResult;

export interface CompareOptions {
  /** JSON paths ignored when comparing, with `*` wildcards: `$.id`, `$.meta.*`, `$.items[*].ts`. */
  ignorePaths?: string[];
  /** Numbers within either tolerance count as equal. */
  numericTolerance?: { absolute?: number; relative?: number };
  /** Cap on differences listed in one record. Default 20. */
  maxDifferences?: number;
}

export interface BreakerOptions {
  /** Consecutive failures that open the breaker. Default 5. */
  failureThreshold?: number;
  /** How long it stays open before one probe is let through. Default 30 000 ms. */
  cooldownMs?: number;
  /**
   * Decides whether an outcome counts as a failure. Default: connection errors, timeouts, 5xx, and answers over
   * `maxShadowResponseBytes` (`errorCode: "response_too_large"`, with their status).
   */
  isFailure?: (outcome: { status?: number; errorCode?: string }) => boolean;
}

/**
 * Options of `shadowMiddleware`: give exactly one of `target` (one shadow) or `targets` (several candidates);
 * everything else is optional.
 *
 * `Req` and `Res` are what the hooks receive (see `ShadowHookRequest`).
 *
 * @example
 * ```ts
 * import type { ShadowOptions } from 'express-shadow';
 *
 * const options: ShadowOptions = {
 *   target: 'http://127.0.0.1:9000',
 *   sampleRate: 0.1,
 *   filter: (req) => req.path !== '/admin',
 * };
 * ```
 */
export type ShadowOptions<Req extends IncomingMessage = ShadowHookRequest, Res extends ServerResponse = ShadowHookResponse> =
  ShadowSettings<Req, Res> & ShadowTargetChoice;

/** `target` (optionally with `name`) or `targets`: one of them is required, and they cannot be combined. */
export type ShadowTargetChoice =
  | {
      /**
       * The shadow: a base URL, absolute http(s) (the request's path and query are appended; a base path is kept),
       * or a function that calls it (an SDK client, say). Give `target` or `targets`.
       */
      target: string | ShadowTargetFunction;
      /** Name of the target in records and stats. Default: the target URL (required for a function target). */
      name?: string;
      targets?: undefined;
    }
  | {
      target?: undefined;
      name?: undefined;
      /** Several candidates at once, each with its own sample rate, breaker, stats and records. Instead of `target`. */
      targets: TargetOptions[];
    };

/** The fields of `ShadowOptions`; the type `ShadowOptions` adds that `target` or `targets` is required. */
export interface ShadowSettings<Req extends IncomingMessage = ShadowHookRequest, Res extends ServerResponse = ShadowHookResponse>
  extends TargetBehaviour {
  /**
   * Another replica of the production model. Differences between production and it are noise (production is not
   * deterministic); candidates' comparisons mark differences at those paths, and the report removes them.
   */
  secondary?: string | ShadowTargetFunction | TargetOptions;
  /**
   * Turns the events of a streamed answer (`text/event-stream` data payloads, or lines of a JSON-lines stream)
   * into the output that is compared. Default: the payloads concatenated.
   */
  assemble?: (events: string[]) => string;
  /** JSON-lines log file, written through winston. Default `./shadow.log`. Ignored when `logger` is given. */
  logFile?: string;
  /** An existing winston logger to write records to instead of `logFile`. It is not closed by `close()`. */
  logger?: Logger;
  /** Fraction of requests mirrored, 0..1. Default 1. */
  sampleRate?: number;
  /** Makes sampling deterministic: requests with the same key are always in or always out. */
  sampleBy?: (req: Req) => string;
  /** Eligibility, decided before anything is buffered. Return false to leave the request out. */
  filter?: (req: Req) => boolean;
  /** Allowlist of methods to mirror (upper case). Default: all. */
  methods?: string[];
  /** Decided once production has answered; return false to leave the request out (`production_status`). */
  mirrorIf?: (req: Req, res: Res) => boolean;
  /** Per shadow request, ms. Default 5000. */
  timeoutMs?: number;
  /** Larger request bodies are not mirrored (logged as `body_too_large`). Default 1 MiB. */
  maxBodyBytes?: number;
  /** Logged bodies longer than this are cut and flagged `truncated`. Default 64 KiB. */
  maxLoggedBodyBytes?: number;
  /** At most this much of a shadow answer is read; the rest is dropped and flagged. Default 1 MiB. */
  maxShadowResponseBytes?: number;
  /** Shadow calls in flight at once. Default 32. */
  maxConcurrent?: number;
  /** Requests waiting for a free slot. Default 1000. */
  maxQueue?: number;
  /**
   * Bytes held at once, over all requests: request bodies being captured, waiting or in flight, production answers
   * kept for comparison, and shadow answers kept until every target of the request has answered. A request that
   * would go over it is skipped (`queue_full`) and its buffers freed. Default 64 MiB.
   */
  maxQueuedBytes?: number;
  /**
   * Forward `authorization`, `cookie` and `x-api-key` to the shadow. Default false. (`proxy-authorization` is a
   * hop-by-hop header and is never forwarded.)
   */
  forwardCredentials?: boolean;
  /** Extra request headers removed from the shadow request. */
  stripHeaders?: string[];
  /** Header names whose values are logged as `"[REDACTED]"`. Default authorization, cookie, set-cookie, proxy-authorization, x-api-key. */
  redactHeaders?: string[];
  /** Headers written into records: all (`true`), none (`false`), or only those named. Default true. */
  logHeaders?: boolean | string[];
  /** JSON paths of body fields masked in the log (request and both responses). */
  redact?: string[];
  /** Circuit breaker of the target. */
  breaker?: BreakerOptions;
  /** How often the summary record of requests left out on purpose is written, ms. Default 60 000. 0 turns it off (the last one is still written by `close()`). */
  summaryIntervalMs?: number;
  /** Comparison of the two answers: options of the default comparator, a comparator function, or false to turn it off. Default `{}`. */
  compare?: CompareOptions | Comparator | false;
  /** Start enabled. Default true. */
  enabled?: boolean;
}

/** The request as handed to a function target or `transformRequest`. */
export interface ShadowRequest {
  requestId: string;
  method: string;
  /** Path and query as the client sent them (`req.originalUrl`); for URL targets, appended to the target's base path. */
  path: string;
  headers: HeaderMap;
  /** The exact body bytes; `undefined` when the request had none. */
  body: Buffer | undefined;
  /** The body parsed, when it is JSON. */
  json?: unknown;
}

/** What `transformRequest` may return: any of these replaced. A `body` that is neither Buffer nor string is sent as JSON. */
export interface ShadowRequestChange {
  method?: string;
  path?: string;
  headers?: HeaderMap;
  body?: Buffer | string | unknown;
}

/** What a function target answers. The body may be bytes, text, or a stream (an async iterable of chunks). */
export interface ShadowResponse {
  status: number;
  headers?: HeaderMap;
  body?: Buffer | Uint8Array | string | AsyncIterable<Uint8Array | string>;
}

/**
 * A shadow reached through code rather than a URL (SageMaker `InvokeEndpoint`, Azure ML, gRPC). Abort when
 * `signal` fires: it does on `timeoutMs` and on `close()`.
 */
export type ShadowTargetFunction = (request: ShadowRequest, context: { signal: AbortSignal }) => Promise<ShadowResponse>;

/** Per-target behaviour, settable at the top level (applies to every target) or per target. */
export interface TargetBehaviour {
  /** Rewrites the captured request into the shadow's format (path, fields, the shadow's own credentials). */
  transformRequest?: (request: ShadowRequest) => ShadowRequestChange | Promise<ShadowRequestChange>;
  /** Normalises the shadow's answer before comparison. The raw answer is still logged. */
  transformResponse?: (answer: ComparedAnswer) => ComparedAnswer;
}

/** One candidate of `targets`. */
export interface TargetOptions extends TargetBehaviour {
  /** Name in records, stats and the report. Required for function targets. Default: the URL. */
  name?: string;
  /** The candidate's base URL. */
  url?: string;
  /** Or a function that calls it. */
  target?: ShadowTargetFunction;
  /** This candidate's fraction of requests. Default: the top-level `sampleRate`. */
  sampleRate?: number;
  /** This candidate's circuit breaker. Default: the top-level `breaker`. */
  breaker?: BreakerOptions;
}

/** What `shadow.update()` can change at run time. */
export interface ShadowUpdate {
  enabled?: boolean;
  sampleRate?: number;
}

export interface LatencySummary {
  count: number;
  p50: number | null;
  p90: number | null;
  p99: number | null;
}

/** Counters returned by `shadow.stats()`. */
export interface ShadowStats {
  enabled: boolean;
  sampleRate: number;
  seen: number;
  mirrored: number;
  /** Requests left out on purpose, by reason. */
  notMirrored: Record<string, number>;
  /** Requests that were to be mirrored but were not, by reason. */
  skipped: Record<string, number>;
  succeeded: number;
  /** Shadow calls that ended without a response (or with a failure status), by error code or `status_5xx`. */
  failed: Record<string, number>;
  inFlight: number;
  queued: number;
  queuedBytes: number;
  breakers: Record<string, BreakerState>;
  /** Shadow latency over the most recent calls (up to 1024), all targets together. */
  latencyMs: LatencySummary;
  /** The same figures per target. */
  targets: Record<string, TargetStats>;
}

export interface TargetStats {
  role: 'candidate' | 'secondary';
  sampleRate: number;
  mirrored: number;
  succeeded: number;
  failed: Record<string, number>;
  breaker: BreakerState;
  latencyMs: LatencySummary;
}

export interface CloseOptions {
  /** How long to wait for in-flight and queued calls before cancelling them. Default 10 000 ms. */
  timeoutMs?: number;
}

/** The middleware returned by `shadowMiddleware`, with its controls. */
export interface ShadowMiddleware {
  (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void): void;
  /** Stops mirroring, waits for in-flight calls (up to `timeoutMs`), cancels the rest, flushes and closes the log. Safe to call twice. */
  close(options?: CloseOptions): Promise<void>;
  /** Changes `enabled` and `sampleRate`; takes effect on the next request. */
  update(update: ShadowUpdate): void;
  stats(): ShadowStats;
  /**
   * Registers Prometheus metrics on a prom-client `Registry` (default: prom-client's global one).
   * Needs the optional peer `prom-client`; throws `ShadowMissingPeerError` without it.
   */
  registerMetrics(registry?: ShadowMetricsRegistry, options?: { prefix?: string; buckets?: number[] }): void;
}
