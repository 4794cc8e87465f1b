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


/**
 * A body as it appears in the log: parsed JSON, UTF-8 text, base64 of the raw bytes, or the parts of a multipart
 * form; with secrets masked (see `redact`, `redactValues`). With `logBodies` off for its side, only its size and
 * SHA-256.
 */
export interface LoggedBody {
  /**
   * Parsed JSON (a body that parses as a JSON object or array, whatever its content type), a UTF-8 string (text,
   * forms, event streams), base64 (anything else), or `MultipartPartLog[]`. Absent when there was no body, or when
   * bodies are not logged.
   */
  body?: unknown;
  /** `"base64"` when `body` holds base64 of the bytes; `"multipart"` when it holds the parts of a multipart form. */
  bodyEncoding?: 'base64' | 'multipart';
  /** `true` when the body was longer than `maxLoggedBodyBytes` (or the capture cap) and was cut. */
  truncated?: true;
  /** Size in bytes of the whole body as sent (before truncation, after decompression when it was compressed). */
  bodyBytes?: number;
  /** SHA-256 (hex) of the body's bytes, in place of `body` when `logBodies` leaves this side out. */
  bodySha256?: string;
}

/** One part of a logged multipart body: a text field with its (masked) value, or a file described, never its bytes. */
export interface MultipartPartLog {
  /** The field name. */
  name: string;
  /** A text field's value, `"[REDACTED]"` when the name is a secret. Absent for files and for values past the byte cap. */
  value?: string;
  /** A file's name as the client gave it. */
  filename?: string;
  /** A file's media type. */
  type?: string;
  /** Size in bytes (files, and values past the byte cap). */
  bytes?: number;
  /** SHA-256 (hex) of the part's bytes (files, and values past the byte cap). */
  sha256?: string;
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
  /** Unique per request: a uuid v7 made by the middleware. Every record of the request carries it. */
  requestId: string;
  /** The client's `x-request-id` (or the app's `requestId`), when valid; not unique, never a join key. */
  clientRequestId?: string;
  /** ISO 8601 time the production response finished. */
  timestamp: string;
  method: string;
  /** `req.originalUrl`: path and query as the client sent them, credential query values masked (`redactQuery`). */
  path: string;
  /** The matched route pattern (`req.baseUrl + req.route.path`), or `null` when no route matched. */
  route: string | null;
  status: number;
  /** Milliseconds from the middleware seeing the request to the last byte of the response. */
  durationMs: number;
  /** Names of the targets this request is sent to (one `shadow` record follows for each). */
  targets?: string[];
  request: {
    headers: HeaderMap;
    bodySource: BodySource;
    /**
     * With `logRequestBodies: 'replayable'`: the request body's exact bytes (base64, as production received them),
     * for `express-shadow replay`; or why they were withheld (over `maxReplayableBodyBytes`, or the logged body
     * needed masking — raw bytes would carry what was masked).
     */
    replayable?: { base64: string } | { withheld: 'too_large' | 'redacted' | 'not_raw' };
  } & LoggedBody;
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
  /**
   * Milliseconds from the request's first byte written to the shadow's socket to the answer's last byte (or the
   * error; from the call's dispatch when it was never sent). A wait for the engine's loop or a connection is not in it.
   */
  durationMs: number;
  /**
   * How late the engine's event loop was when it read the answer (ms): the part of `durationMs` the engine itself
   * may have added, so a slow model can be told from a busy engine. The report leaves out latencies over its bound.
   */
  engineDelayMs?: number;
  response?: { headers: HeaderMap } & LoggedBody & {
    /** `true` when the shadow sent more than `maxShadowResponseBytes` and reading stopped there. */
    responseTruncated?: true;
    stream?: StreamMeasurements;
  };
  /** `"secondary"` for the production replica used to measure noise. */
  role?: 'secondary';
  error?: { code: ShadowErrorCode; message: string };
  /**
   * `true` when the call failed because of the request's shape, not the model: the engine could not send it (`error`
   * says why), or the shadow's HTTP server refused it before any model saw it (413, 414, 431, or 400 with
   * `Connection: close`). Never held against the target; the report keeps these out of its criteria and counts them
   * on their own.
   */
  requestFault?: true;
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
  | 'hook_timeout'
  | 'engine_error'
  | (string & {});

/** Written for a request that was to be mirrored but was not. */
export interface SkippedRecord {
  type: 'skipped';
  requestId: string;
  clientRequestId?: string;
  timestamp: string;
  reason: SkipReason;
  method: string;
  /** As in `ProductionRecord.path`: credential query values masked. */
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
  /** Requests shed for lack of room (counted here instead of one `skipped` record each), with a few of their ids. */
  shed?: { queue_full: number; sampleRequestIds: string[] };
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
  /**
   * Production's value. A text path below its `similarity` threshold shows at most 1,024 characters of each side; a
   * number a double cannot hold exactly (past 2^53, or more than 15 significant digits) is shown as its JSON text.
   */
  production?: unknown;
  shadow?: unknown;
  /** At a text path named in `compare.similarity`: the score that fell below its threshold. */
  score?: number;
}

/** The similarity of two texts at one path (`compare.similarity`), with the threshold `match` was judged by. */
export interface SimilarityScore {
  /** Where the text was, e.g. `$.choices[0].message.content`, or `$` for a whole text answer. */
  path: string;
  measure: 'rouge-l' | 'token-f1' | 'levenshtein';
  /** 0 (nothing shared) to 1 (the same after normalisation), rounded to 4 decimals. */
  score: number;
  /** Below it the path is a difference and the comparison does not match. */
  threshold: number;
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
  /**
   * `true` when the list was cut: more differences than `compare.maxDifferences`, or more than the log's size cap
   * allows (values past `maxLoggedBodyBytes` are replaced by `"[too large to log: N bytes]"`, and differences past
   * it, or past 4 KiB of paths, are left out).
   */
  differencesTruncated?: true;
  score?: number;
  /** Text paths named in `compare.similarity`: each one's score and threshold (at most 20, in document order). */
  similarity?: SimilarityScore[];
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

/** Why an `embed` or `judge` call gave no score. */
export type JudgementErrorCode =
  /** The hook took longer than `judgeLimits.timeoutMs` (its signal was aborted). */
  | 'timeout'
  /** The hook threw or its promise rejected. */
  | 'hook_error'
  /** The hook's result was not the promised shape (`{ score, reason? }`, or one vector per text). */
  | 'bad_result'
  /** close() timed out while the call was still running. */
  | 'cancelled';

/**
 * Written when an `embed` or `judge` call for a sampled comparison ends, after the comparison record (never holding it
 * back): joined to the request by `requestId`. `route` is repeated so the report can summarise judgements on their own.
 */
export interface JudgementRecord {
  type: 'judgement';
  requestId: string;
  timestamp: string;
  /** The target whose answer was judged against production's. */
  target: string;
  /** `"secondary"` when that target is the production replica: production judged against itself. */
  role?: 'secondary';
  route: string | null;
  /** The text judged: a path of the comparison's `similarity` scores, or `$` for the whole answer. */
  path: string;
  hook: 'embed' | 'judge';
  /** `embed`: cosine similarity of the two texts' vectors (−1 to 1); `judge`: the score the hook gave. Absent on error. */
  score?: number;
  /** The judge's reason, value-masked (`redactValues`) and cut at 1,024 characters. */
  reason?: string;
  /** Milliseconds the call took. */
  durationMs: number;
  error?: { code: JudgementErrorCode; message: string };
}

/**
 * The hooks' counts over a period (written every `summaryIntervalMs` when any is non-zero, and by close()): calls
 * made, failures by code, and sampled comparisons or calls not made, by reason.
 */
export interface JudgementSummaryRecord {
  type: 'judgement_summary';
  timestamp: string;
  intervalMs: number;
  /** Comparisons in the sample (`judgeSampleRate`). */
  sampled: number;
  /** Calls started, per hook. */
  calls: { embed: number; judge: number };
  /** Calls that gave a score. */
  succeeded: number;
  failed: Partial<Record<JudgementErrorCode, number>>;
  /**
   * Calls not made: `budget` (over `judgeLimits.maxCallsPerMinute`), `busy` (`maxConcurrent` calls still running),
   * `no_text` (no text in either answer), `closing` (after close() began).
   */
  skipped: Record<string, number>;
}

export type ShadowLogRecord =
  | ProductionRecord
  | ShadowRecord
  | SkippedRecord
  | SummaryRecord
  | BreakerRecord
  | ComparisonRecord
  | JudgementRecord
  | JudgementSummaryRecord;

/** What a `judge` hook gets as the request: the request the shadow was sent (credential query parameters removed). */
export interface JudgeInput {
  method: string;
  path: string;
  /** The request body: parsed JSON, UTF-8 text, or `undefined` when there was none (or it was binary). */
  body: unknown;
}

/** What a `judge` hook returns: a score (your scale; 0–1 reads best in the report) and, optionally, why. */
export interface JudgeResult {
  score: number;
  reason?: string;
}

/**
 * Grades the candidate's text against production's, e.g. by asking a grading model. Abort on `signal`: it fires at
 * `judgeLimits.timeoutMs` and on close().
 */
export type JudgeHook = (input: JudgeInput, production: string, candidate: string, context: { signal: AbortSignal }) => JudgeResult | Promise<JudgeResult>;

/** Embeds texts (one vector each, in order), e.g. by calling an embeddings endpoint; the report gets their cosine. */
export type EmbedHook = (texts: string[], context: { signal: AbortSignal }) => number[][] | Promise<number[][]>;

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
  /** Scores of text paths, copied into the comparison record (the default comparator fills it from `similarity`). */
  similarity?: SimilarityScore[];
}

export type Comparator = (production: ComparedAnswer, shadow: ComparedAnswer) => ComparisonResult;

export interface CompareOptions {
  /** JSON paths ignored when comparing, with `*` wildcards: `$.id`, `$.meta.*`, `$.items[*].ts`. */
  ignorePaths?: string[];
  /** Numbers within either tolerance count as equal. */
  numericTolerance?: { absolute?: number; relative?: number };
  /** Cap on differences listed in one record. Default 20. */
  maxDifferences?: number;
  /**
   * Text paths judged by how close they are instead of by equality: a JSON path (wildcards allowed; `$` for a whole
   * text answer or an assembled stream) mapped to a measure, or to `{ measure, threshold, normalize }`. Below the
   * threshold the path is a difference and `match` is false. Every other path is still compared exactly.
   * Thresholds default to 0.4 (`rouge-l`, `token-f1`) and 0.7 (`levenshtein`). See docs/compare.md.
   * @example similarity: { '$.choices[*].message.content': { measure: 'rouge-l', threshold: 0.4 } }
   */
  similarity?: Record<string, SimilarityMeasure | SimilarityRule>;
  /** What is folded away before texts are measured. Default `{ case: true, punctuation: true, whitespace: true, unicode: 'NFC' }`. */
  normalize?: TextNormalizeOptions;
}

/** A similarity measure: ROUGE-L F1 (word order counts), token F1 (a bag of words), or normalised edit distance (short strings). */
export type SimilarityMeasure = 'rouge-l' | 'token-f1' | 'levenshtein';

/** One text path of `compare.similarity`. */
export interface SimilarityRule {
  measure: SimilarityMeasure;
  /** Score (0–1) below which the texts are a mismatch. */
  threshold?: number;
  /** This path's own normalisation, over `compare.normalize`. */
  normalize?: TextNormalizeOptions;
}

/** Text normalisation before measuring; each key defaults as in `compare.normalize`. */
export interface TextNormalizeOptions {
  /** Lower-case. Default true. */
  case?: boolean;
  /** Drop punctuation (Unicode `P`). Default true. */
  punctuation?: boolean;
  /** Collapse whitespace runs and trim. Default true. */
  whitespace?: boolean;
  /** Unicode normalisation form, or false. Default `'NFC'`. */
  unicode?: 'NFC' | 'NFKC' | false;
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
  isFailure?: ((outcome: { status?: number; errorCode?: string }) => boolean) | ModuleHook;
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
      target: string | ShadowTargetFunction | ModuleHook;
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
  secondary?: string | ShadowTargetFunction | ModuleHook | TargetOptions;
  /**
   * Turns the events of a streamed answer (`text/event-stream` data payloads, or lines of a JSON-lines stream)
   * into the output that is compared. Default: the payloads concatenated.
   */
  assemble?: ((events: string[]) => string) | ModuleHook;
  /** JSON-lines log file, written through winston. Default `./shadow.log`. Ignored when `logger` is given. */
  logFile?: string;
  /**
   * A logger of the app's to write records to instead of `logFile`: a winston logger, a pino logger, or any object
   * with `write(record)` (it gets each record as an object; a Node byte stream such as `process.stdout` gets one
   * JSON line per record). It is never closed by `close()`; when it throws, the record is counted in
   * `stats().log.dropped.logger_error` and one warning is emitted.
   * @example
   * shadowMiddleware({ target, logger: pino(pino.destination('shadow.log')) })
   */
  logger?: Logger | PinoLikeLogger | ShadowRecordWriter;
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
   * Bytes of records waiting to be written to `logFile` (a slow disk, a FIFO nobody reads). Past it, records are
   * dropped and counted in `stats().log.dropped.backpressure` rather than held in memory. Default 16 MiB
   * (about 10 000 typical records). Not with `logger`.
   */
  maxPendingLogBytes?: number;
  /**
   * Credentials withheld from the shadow are sent after all: `true` for every one, or a list of header and query
   * parameter names (case-insensitive). They are still masked in the log. Default `false`.
   *
   * Withheld by default: request headers `authorization`, `proxy-authorization`, `cookie`, `x-amz-security-token`,
   * `x-goog-api-key`, `ocp-apim-subscription-key`, and any header whose name contains `token`, `secret`, `password`,
   * `passwd`, `api-key`/`apikey`/`api_key`, `session`, `signature`, `credential` or the word `auth` (`x-auth-*`);
   * query parameters by the same rules plus `key`, `sig` and `code` (the rest of the request-target is sent byte
   * for byte). `redactHeaders.allow` and `redactQuery.allow` take names out of these rules. See
   * https://github.com/express-shadow/express-shadow/blob/main/docs/secrets.md.
   * @example forwardCredentials: ['x-tenant-token']
   */
  forwardCredentials?: boolean | string[];
  /** Extra request headers removed from the shadow request. */
  stripHeaders?: string[];
  /**
   * Header names logged as `"[REDACTED]"` (request and both answers), added to the credential rules of
   * `forwardCredentials` plus `set-cookie`. `{ add, allow }` also takes names out of the default rules (they are then
   * logged and forwarded). Names are case-insensitive.
   * @example redactHeaders: ['x-tenant'] // or { add: ['x-tenant'], allow: ['x-session-region'] }
   */
  redactHeaders?: string[] | NameListOption;
  /**
   * Query parameter names masked in every logged `path` and removed from the shadow's request-target, added to the
   * default rules (see `forwardCredentials`). `{ add, allow }` also takes names out of the defaults.
   * @example redactQuery: ['tenant'] // or { allow: ['code'] }
   */
  redactQuery?: string[] | NameListOption;
  /** Headers written into records: all (`true`), none (`false`), or only those named. Default true. */
  logHeaders?: boolean | string[];
  /**
   * JSON paths of body fields masked in the log (requests, both answers, each streamed event and the assembled
   * answer, comparison differences), added to the defaults `$..password`, `$..passwd`, `$..secret`, `$..token`,
   * `$..access_token`, `$..refresh_token`, `$..api_key`, `$..card_number`, `$..cvv`, `$..ssn`. They apply to JSON
   * whatever its content type says, and to urlencoded and multipart field names. `{ add, allow }` removes defaults
   * by their text. The defaults mask only strings and numbers (`{"token": {"text": "Hi"}}` keeps its object).
   * @example redact: ['$.user.email'] // or { add: ['$.user.email'], allow: ['$..token'] }
   */
  redact?: string[] | NameListOption;
  /**
   * Values masked wherever they appear in logged bodies, paths, headers and differences: `card` (13–19 digits
   * passing the Luhn check), `email`, `jwt` (`eyJ…`). Masks read `[REDACTED:card]` and so on. Default none.
   * @example redactValues: ['card', 'email', 'jwt']
   */
  redactValues?: ('card' | 'email' | 'jwt')[];
  /**
   * Which bodies the log holds: all (`true`), none (`false`), only requests or only answers. A body left out is
   * logged as its size and SHA-256; comparison still runs in memory, and its differences then keep only their paths
   * (when answers are left out). Default true.
   */
  logBodies?: boolean | 'request' | 'response';
  /** Circuit breaker of the target. */
  breaker?: BreakerOptions;
  /** How often the summary record of requests left out on purpose is written, ms. Default 60 000. 0 turns it off (the last one is still written by `close()`). */
  summaryIntervalMs?: number;
  /** Comparison of the two answers: options of the default comparator, a comparator function, or false to turn it off. Default `{}`. */
  compare?: CompareOptions | Comparator | ModuleHook | false;
  /**
   * Embeds production's and each target's text after comparison, for a sample of requests (`judgeSampleRate`); each
   * cosine lands in a `judgement` record. A module hook runs in the engine's worker. See docs/compare.md.
   * @example embed: { module: './shadow-hooks.js', export: 'embed' }
   */
  embed?: EmbedHook | ModuleHook;
  /**
   * Grades each target's text against production's (a grading model, say), for a sample of requests; each score and
   * reason lands in a `judgement` record. Never delays the comparison record. See docs/compare.md.
   * @example judge: { module: './shadow-hooks.js', export: 'judge' }
   */
  judge?: JudgeHook | ModuleHook;
  /** Share of compared requests sent to `embed` and `judge` (the same requests for every target). Default 0.1. */
  judgeSampleRate?: number;
  /** Bounds of the hooks. Defaults: `{ maxConcurrent: 4, timeoutMs: 30000, maxCallsPerMinute: 60 }`. */
  judgeLimits?: { maxConcurrent?: number; timeoutMs?: number; maxCallsPerMinute?: number };
  /** Start enabled. Default true. */
  enabled?: boolean;
  /**
   * Where the engine (shadow calls, comparison, records, the log file) runs. Default: on one worker thread per
   * process when every engine hook can cross threads (data, or module specifiers `{ module, export }`), otherwise
   * in the app's thread. `'worker'` insists (a plain function hook then throws); `'in-thread'` never starts a worker.
   */
  engine?: 'worker' | 'in-thread';
  /**
   * A call that waited this long for a free slot is not sent; its shadow record says `queue_timeout`. Keeps every
   * shadow record within the reader's join window. Default 30 000 ms.
   */
  maxQueueWaitMs?: number;
  /**
   * The app's own id for a request (pino-http's `req.id`, say), logged as `clientRequestId` when it is 1–128
   * characters of `[A-Za-z0-9._:-]`. Default: the `requestIdHeader` header.
   */
  requestId?: (req: IncomingMessage) => string | number | undefined;
  /** Header carrying the client's request id, logged as `clientRequestId`. Default `x-request-id`. */
  requestIdHeader?: string;
  /** Also put the id in `res.locals.shadowRequestId` (changes what templates rendering `res.locals` see). Default false; use `shadowRequestId(req)`. */
  resLocals?: boolean;
  /** Signal on which log files are reopened (after logrotate renamed them), or false. Default `'SIGHUP'`. */
  reopenOnSignal?: NodeJS.Signals | false;
  /**
   * DNS servers (`'10.0.0.2'`, `'127.0.0.1:5353'`) for the shadow's host name. Shadow hosts are always resolved
   * with c-ares, off the threadpool the app's own `dns.lookup` calls use. Default: the system's servers.
   */
  dnsServers?: string[];
  /**
   * `'replayable'`: production records also carry the request body's exact bytes (base64, up to
   * `maxReplayableBodyBytes`), so `express-shadow replay` can send them byte for byte. Bodies whose logged form
   * needed masking are withheld (the raw bytes would carry the secret). Default: only the logged body.
   */
  logRequestBodies?: 'replayable';
  /** Largest request body kept for replay with `logRequestBodies: 'replayable'`. Default 1 MiB. */
  maxReplayableBodyBytes?: number;
  /**
   * New requests are not mirrored (counted as shed) while the engine stays more than this many milliseconds
   * behind (its event loop late, or requests waiting that long to be prepared): a backlog would add its own delay
   * to every shadow latency it measures, and hold memory. Default 5.
   */
  maxEngineLagMs?: number;
  /**
   * How long one call of a hook that runs in the engine's worker (`transformRequest`, `transformResponse`, a
   * `compare` function, `assemble`) may take. Past it the worker is ended and started again, the request is logged
   * as skipped (`hook_timeout`), and production is unaffected. Default 1000.
   */
  hookTimeoutMs?: number;
}

/** A name list that adds to the defaults and, explicitly, takes defaults out. */
export interface NameListOption {
  /** Added to the defaults. */
  add?: string[];
  /** Default names (or default `redact` paths, as written) to leave out. */
  allow?: string[];
}

/** The request as handed to a function target or `transformRequest`. */
export interface ShadowRequest {
  requestId: string;
  method: string;
  /**
   * Path and query as the client sent them (`req.originalUrl`) minus credential query parameters not forwarded
   * (see `forwardCredentials`); for URL targets, appended to the target's base path.
   */
  path: string;
  /** The client's headers minus hop-by-hop, trace, `stripHeaders` and credential headers not forwarded. */
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
/**
 * A hook given as a module the engine's worker thread imports, instead of a function (functions cannot cross
 * threads). A relative path resolves against the working directory; `export` names the export (default `default`).
 *
 * @example
 * ```ts nocheck
 * shadowMiddleware({ target: { module: './shadow-hooks.js', export: 'invokeSageMaker' }, name: 'sagemaker-v2' });
 * ```
 */
export interface ModuleHook {
  module: string;
  export?: string;
}

export type ShadowTargetFunction = (request: ShadowRequest, context: { signal: AbortSignal }) => Promise<ShadowResponse>;

/** Per-target behaviour, settable at the top level (applies to every target) or per target. */
export interface TargetBehaviour {
  /** Rewrites the captured request into the shadow's format (path, fields, the shadow's own credentials). */
  transformRequest?: ((request: ShadowRequest) => ShadowRequestChange | Promise<ShadowRequestChange>) | ModuleHook;
  /** Normalises the shadow's answer before comparison. The raw answer is still logged. */
  transformResponse?: ((answer: ComparedAnswer) => ComparedAnswer) | ModuleHook;
}

/** One candidate of `targets`. */
export interface TargetOptions extends TargetBehaviour {
  /** Name in records, stats and the report. Required for function targets. Default: the URL. */
  name?: string;
  /** The candidate's base URL. */
  url?: string;
  /** Or a function that calls it. */
  target?: ShadowTargetFunction | ModuleHook;
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
  /** Where the engine runs, and whether it is up (false after a worker crash, until the next mirrored request). */
  engine: { mode: 'worker' | 'in-thread'; available: boolean };
  /** The log: records written and dropped by reason, bytes waiting for the disk, whether writes are failing. */
  log: SinkStats;
}

/** pino's shape, recognised without importing pino: `info(object, message)` and a `levels` table, no `log()`. */
export interface PinoLikeLogger {
  info(record: object, message?: string): void;
  levels: object;
}

/** Any object that takes records one by one. */
export interface ShadowRecordWriter {
  write(record: ShadowLogRecord): unknown;
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
  /**
   * How long to wait for in-flight and queued calls before cancelling them. Default 10 000 ms. Writing the log
   * then gets what is left of it, and at least min(timeoutMs, 1 s), so `close()` resolves within about twice
   * `timeoutMs` at worst, whatever the disk does; lines still pending keep being written in the background.
   */
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
  /** Resolves once every request seen so far has been mirrored or skipped and its records written. */
  whenIdle(): Promise<void>;
  /** Reopens the log file (after logrotate renamed it); also done on `reopenOnSignal`. */
  reopen(): void;
  /**
   * Registers Prometheus metrics on a prom-client `Registry` (default: prom-client's global one).
   * Needs the optional peer `prom-client`; throws `ShadowMissingPeerError` without it.
   */
  registerMetrics(registry?: ShadowMetricsRegistry, options?: { prefix?: string; buckets?: number[] }): void;
}

/** How a record sink fared so far. For a shared log file, the figures cover every sink writing to it. */
export interface SinkStats {
  /** Records that reached the file (or were handed to the app's logger without error). */
  written: number;
  /**
   * Records lost, by reason: `write_error` (the disk refused them, or they arrived while the file was being
   * retried), `backpressure` (more than `maxPendingLogBytes` waiting for the disk), `unserialisable`
   * (`JSON.stringify` threw), `logger_error` (the app's logger threw), `closed` (written after `close()`).
   */
  dropped: Record<string, number>;
  /** Bytes of records accepted and not yet written to the file. */
  pendingBytes: number;
  /** True from a write error until a write succeeds again. */
  failing: boolean;
}
