/**
 * Shapes of the log reader: what it yields, how it is configured, and what it counts.
 */
import type {
  BreakerRecord,
  ComparisonRecord,
  JudgementRecord,
  JudgementSummaryRecord,
  ProductionRecord,
  ShadowRecord,
  SkippedRecord,
  SummaryRecord,
} from '../types.js';

/** Why an entry left the join. */
export type EntryClosedBy =
  /** It had everything it was waiting for (see {@link ReadShadowLogOptions}). */
  | 'complete'
  /** The time window moved past it. */
  | 'time_window'
  /** More than `maxOpenEntries` were open; it was the oldest. */
  | 'count_window'
  /** The input ended while it was still open. */
  | 'end_of_input';

/**
 * What is missing from an entry, when something is.
 * - `no_shadow`: a production record whose shadow record never came.
 * - `no_production`: shadow or comparison records whose production record never came.
 * - `late`: records for a requestId whose entry had already been yielded (a straggler, not a lost request).
 */
export type OrphanKind = 'no_shadow' | 'no_production' | 'late';

/**
 * All records of one request, joined by `requestId` across every file read.
 *
 * @example
 * ```ts
 * for await (const entry of readShadowLog(['logs/*.log*'])) {
 *   if (entry.orphan) continue;
 *   console.log(entry.requestId, entry.production?.status, entry.shadows[0]?.status);
 * }
 * ```
 */
export interface ShadowLogEntry {
  requestId: string;
  /** The production record, or `null` when none was found within the window. */
  production: ProductionRecord | null;
  /** One per shadow target that answered or failed. */
  shadows: ShadowRecord[];
  /** One per shadow target whose answer was compared. */
  comparisons: ComparisonRecord[];
  /** Set when the request was to be mirrored but was not. */
  skipped: SkippedRecord | null;
  closedBy: EntryClosedBy;
  /** `null` for a whole entry. */
  orphan: OrphanKind | null;
}

/**
 * Records that belong to no single request, or (`judgement`) arrive after their request's entry has been yielded: the
 * hooks answer seconds later, so they are passed on as they are, carrying their own `requestId`, `target` and `route`.
 */
export type AggregateRecord = SummaryRecord | BreakerRecord | JudgementRecord | JudgementSummaryRecord;

/** Reading progress, for a progress bar. */
export interface ReadProgress {
  /** Bytes read from disk so far (compressed bytes for `.gz` files). */
  bytesRead: number;
  /** Size on disk of all files. */
  bytesTotal: number;
  lines: number;
  records: number;
}

/**
 * Options of {@link readShadowLog}.
 *
 * An entry is complete — and yielded at once — when it has its production record, a shadow record from every
 * target (the `targets` given, or every target seen so far in the logs), and a comparison for every shadow that got an
 * answer (unless `expectComparisons` is false). A `skipped` record completes its entry on its own.
 * Anything else is yielded when the join window evicts it, which bounds memory.
 */
export interface ReadShadowLogOptions {
  /**
   * Time window of the join, in ms of log time: an entry whose first record is older than the newest record read
   * minus this is yielded as it is. Default 60 000.
   */
  windowMs?: number;
  /** Count window of the join: at most this many entries are held; the oldest is yielded when one more opens. Default 100 000. */
  maxOpenEntries?: number;
  /** Wait for a comparison record per answered shadow before calling an entry complete. Default `true`; set `false` for logs written with `compare: false`. */
  expectComparisons?: boolean;
  /** Names of the shadow targets every request is mirrored to. Default: learned from the logs as they are read. */
  targets?: string[];
  /** Called with each `summary`, `breaker`, `judgement` and `judgement_summary` record, in log-time order, while iterating. */
  onRecord?: (record: AggregateRecord) => void;
  /** Called now and then while reading (every `progressEvery` lines) and once at the end. */
  onProgress?: (progress: ReadProgress) => void;
  /** Lines between two `onProgress` calls. Default 20 000. */
  progressEvery?: number;
  /** Longer lines (in UTF-8 bytes) are counted as unparseable and skipped, so one runaway line cannot exhaust memory. Default 16 MiB. */
  maxLineLength?: number;
  /** Directory that relative paths and globs are resolved against. Default `process.cwd()`. */
  cwd?: string;
  /** The stream read for the path `-` (gzip or plain, detected from its first bytes). Default `process.stdin`. */
  stdin?: NodeJS.ReadableStream;
}

/** What was read from one file. */
export interface FileReadStats {
  /** The path as matched (relative to `cwd` when it was given relative). */
  path: string;
  /** Whether it was read through gunzip (detected from its first bytes). */
  gzip: boolean;
  /** Size on disk; 0 for a pipe or standard input. */
  bytes: number;
  lines: number;
  records: number;
  unparseable: number;
  unrecognised: number;
  /** The last line was cut (no newline and not valid JSON), or the gzip stream ended early. */
  truncated: boolean;
  /** Message of a read or decompression error that ended this file early, else `null`. */
  error: string | null;
}

/** A line that could not be used, kept as an example. */
export interface BadLineExample {
  file: string;
  /** 1-based line number. */
  line: number;
  /** Why it was not used. */
  problem: 'unparseable' | 'unrecognised' | 'truncated' | 'too_long';
  /** The start of the line (up to 120 characters). */
  text: string;
}

/**
 * Counts kept while reading; final once iteration has ended.
 * Nothing is dropped silently: every line is either a record, or counted here as unparseable, unrecognised or truncated.
 */
export interface ReadStats {
  files: FileReadStats[];
  /** Glob patterns that matched no file. */
  unmatchedPatterns: string[];
  /** Non-blank lines read. */
  lines: number;
  /** Lines that were recognised records. */
  records: number;
  /** Lines that are not a JSON object (or longer than `maxLineLength`). */
  unparseable: number;
  /** JSON objects without a known `type`, or missing `requestId`/`timestamp`. */
  unrecognised: number;
  /** Files whose last line or gzip stream was cut. */
  truncated: number;
  /**
   * Records repeating one already read (same type, requestId and target); the first one is kept. A repeat is
   * recognised while its request is open and for two join windows of log time after it was yielded (at most
   * 2 × `maxOpenEntries` requests remembered); files are merged by time, so a copy of a record (a log given plain and
   * gzipped, overlapping globs) is read right beside the original.
   */
  duplicates: number;
  entries: number;
  closedBy: Record<EntryClosedBy, number>;
  orphans: Record<OrphanKind, number>;
  /** Entries yielded with a shadow answer but without its comparison record. */
  missingComparisons: number;
  /** Largest number of entries held open at once. */
  peakOpenEntries: number;
  /** The first few bad lines. */
  badLines: BadLineExample[];
  /** The first few orphan requestIds. */
  orphanExamples: { requestId: string; kind: OrphanKind }[];
}

/**
 * The object `readShadowLog` returns: iterate it once; `stats` is live while iterating and final when iteration ends.
 */
export interface ShadowLogReader extends AsyncIterable<ShadowLogEntry> {
  readonly stats: ReadStats;
}

/** Stable codes of {@link ShadowLogReadError}. */
export type ShadowLogReadErrorCode = 'ERR_SHADOW_LOG_NO_FILES' | 'ERR_SHADOW_LOG_UNREADABLE';

/**
 * Thrown (on the first `next()`) when no file matched, or a file cannot be opened. Lines inside files are never fatal.
 *
 * @example
 * ```ts
 * import { readShadowLog, ShadowLogReadError } from 'express-shadow';
 *
 * try {
 *   for await (const entry of readShadowLog('logs/*.log')) console.log(entry.requestId);
 * } catch (error) {
 *   if (error instanceof ShadowLogReadError && error.code === 'ERR_SHADOW_LOG_NO_FILES') console.error('no logs yet');
 *   else throw error;
 * }
 * ```
 */
export class ShadowLogReadError extends Error {
  override readonly name = 'ShadowLogReadError';
  readonly code: ShadowLogReadErrorCode;
  /** The path or pattern concerned. */
  readonly path: string | undefined;

  constructor(code: ShadowLogReadErrorCode, message: string, path?: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.path = path;
  }
}
