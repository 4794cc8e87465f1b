/**
 * One share of a split read: a reader of some of the files (whole files), for the report on several threads.
 *
 * Files are merged by key, so a record's place among all files' records is `(pm, file, line)`, where `pm` is the
 * largest key of its file up to it, and the watermark of a reader of every file when it reads the record is that `pm`
 * (see `ParsedRecord.pm`). A reader of some of the files therefore joins a request whose records are all in its files
 * exactly as a reader of every file would, with two exceptions it can see: the completeness hung on something learned
 * from other files (targets not listed, comparisons not yet known to come), or a record came after the window may have
 * moved past its request in between (`SplitEntry.crossing`). Entries that are complete and clear of both are handed to
 * `onEntry`; every other entry is kept, with its records and their places, for the main thread to check against the
 * other shares and join again where a request crossed files (see report/split-merge.ts).
 */
import { RecordCursor } from './cursor.js';
import { DoubleBlocks } from './double-blocks.js';
import { hashString } from './hash.js';
import { COMPARISON_PROBE, empty, Joiner, type Mark, type SplitEntry } from './join.js';
import { TimeMerge } from './merge.js';
import { parseLine } from './parse-record.js';
import { emptyReadStats, isAggregate, openSources, positiveNumber } from './read-shadow-log.js';
import { resolveFiles } from './resolve-files.js';
import { slimRecord, type BodyPaths } from './slim-record.js';
import type { AggregateRecord, ReadShadowLogOptions, ReadStats, ShadowLogEntry } from './types.js';

/** A record's place among all files' records. */
export type Place = readonly [pm: number, file: number, pos: number];

/** A record of a kept entry with its place, as the main thread reads it (a `Mark` without what only the share uses). */
export type PlacedRecord = Pick<Mark, 'record' | 'pm' | 'file' | 'pos' | 'prevW'>;

/** An entry kept for the main thread: what it reads of a `SplitEntry`. */
export interface KeptEntry extends Omit<SplitEntry, 'marks' | 'crossing'> {
  marks: PlacedRecord[];
}

/** Orders places as one reader of every file reads them. */
export function comparePlaces(a: Place, b: Place): number {
  return a[0] - b[0] || a[1] - b[1] || a[2] - b[2];
}

export interface SplitReadResult {
  /** Stats of this share: lines, records and bad lines of its files; entry figures of its accepted entries only. */
  stats: ReadStats;
  /** The global index of each of `stats.files`. */
  fileIndexes: number[];
  /** Number of files matched in all. */
  fileCount: number;
  /** Where each of `stats.badLines` was read: [pm, file, line before, its line]. */
  badLineOrder: [number, number, number, number][];
  /** Hashes of the requestIds of the entries handed to `onEntry`. */
  accepted: Float64Array;
  /** Hashes of the requestIds of `pending`. */
  pendingIds: Float64Array;
  pending: KeptEntry[];
  /** Records repeating one of a pending request after its entry was yielded. */
  repeats: PlacedRecord[];
  /** `summary`, `breaker` and judgement records, with their places. */
  aggregates: { record: AggregateRecord; place: Place }[];
  /** Where each target was first seen, and where each had its first comparison. */
  firstSeen: Record<string, Place>;
  firstComparison: Record<string, Place>;
  /** Answered shadows of each target read before its first comparison here (capped at `COMPARISON_PROBE`). */
  answeredUncompared: Record<string, number>;
  /**
   * Of the accepted entries that relied on the targets learned here: the fewest learned, and where the first opened
   * (the main thread checks every target was known to one reader by then, and here). `null` when none did.
   */
  learned: { fewest: number; first: Place } | null;
  /**
   * Every watermark this share read at (its records' `pm`s, ascending, once each): tells the main thread whether one
   * reader of every file read past a window's end between two records of another share.
   */
  watermarks: Float64Array;
  /** The largest key read. */
  maxKey: number;
  peakRemembered: number;
  /** Repeats whose request a reader of every file might have forgotten first (see `YieldedMemory.doubts`). */
  doubts: number;
}

export interface SplitReadOptions extends Pick<ReadShadowLogOptions, 'windowMs' | 'maxOpenEntries' | 'expectComparisons' | 'targets' | 'maxLineLength' | 'cwd'> {
  /** Indexes (among all files matched, sorted as the reader sorts them) of the files this share reads. */
  files: readonly number[];
  /** The paths of response bodies kept in the records (a label or score path reads them). */
  bodies: BodyPaths;
  /**
   * Takes the kept entries (and repeats) as they come, a batch at a time, so a report thread holds few of them: the
   * result then has only those not yet handed over.
   */
  onPending?: (entries: SplitEntry[], repeats: Mark[]) => void;
  /** Ends the read (with the signal's reason) at the next chunk: the split read was given up. */
  signal?: AbortSignal;
}

/** Reads the share's files; `onEntry` gets each entry joined exactly as one reader of every file would join it. */
export async function readSplit(inputs: readonly string[], options: SplitReadOptions, onEntry: (entry: ShadowLogEntry) => void): Promise<SplitReadResult> {
  const windowMs = positiveNumber('windowMs', options.windowMs, 60_000);
  const maxLineLength = positiveNumber('maxLineLength', options.maxLineLength, 16 * 1024 * 1024);
  const { files: all } = await resolveFiles(inputs, options.cwd ?? process.cwd());
  const indexes = options.files.filter((i) => i < all.length);
  const sources = await openSources(indexes.map((i) => all[i] as (typeof all)[number]), undefined, maxLineLength);
  const stats = emptyReadStats();
  stats.files = sources.map((s) => s.stats);
  const result = new ShareCollector(stats, all.length, indexes, options.onPending);
  const joiner = new Joiner(
    {
      windowMs,
      maxOpenEntries: Math.max(1, Math.floor(positiveNumber('maxOpenEntries', options.maxOpenEntries, 100_000))),
      expectComparisons: options.expectComparisons ?? true,
      targets: options.targets === undefined ? undefined : [...options.targets],
      split: { onRepeat: (mark) => result.repeat(mark) },
    },
    stats,
  );
  const parse = {
    text: (line: string) => {
      const parsed = parseLine(line);
      if (typeof parsed !== 'string') parsed.record = slimRecord(parsed.record, options.bodies);
      return parsed;
    },
  };
  const cursors = sources.map((source, i) => new RecordCursor(source, indexes[i] as number, stats, windowMs, () => undefined, parse));
  for (const cursor of cursors) cursor.badLineOrder = result.badLineOrder;
  const out: ShadowLogEntry[] = [];
  const take = (): void => {
    for (const entry of out) if (result.entry(entry as SplitEntry)) onEntry(entry);
    empty(out);
  };
  try {
    const merge = await TimeMerge.start(cursors);
    let lastWatermark = -Infinity;
    for (let keyed = merge.peek(); keyed !== undefined; keyed = merge.peek()) {
      const { record, key } = keyed;
      if (isAggregate(record)) {
        result.aggregates.push({ record, place: [keyed.pm, keyed.file, keyed.pos] });
        joiner.tick(key, record.type, undefined, false, out);
      } else {
        // The parsed record is its own mark: no object more per record.
        const mark = keyed as Mark;
        // Finite, so marks survive JSON on their way to the main thread.
        mark.prevW = Math.max(joiner.watermark, -Number.MAX_VALUE);
        result.target(mark);
        joiner.add(record, key, out, mark);
      }
      if (out.length > 0) take();
      if (joiner.watermark > lastWatermark) result.watermarks.push((lastWatermark = joiner.watermark));
      const more = merge.advance();
      if (more !== undefined) {
        await more;
        options.signal?.throwIfAborted();
      }
    }
    joiner.flush(out);
    take();
  } finally {
    await Promise.all(sources.map((s) => s.close()));
    stats.truncated = stats.files.filter((f) => f.truncated).length;
  }
  return result.finish(joiner);
}

const PENDING_BATCH = 512;

/** Bits of the filter in front of the kept requestIds: 128 KiB, so it stays in the core's cache. */
const FILTER_BITS = 2 ** 20;

/**
 * The requestIds of kept entries, with a one-hash Bloom filter on their hash (which an accepted entry needs anyway) in
 * front of the set: most entries are accepted, and a lookup in the set cost each of them about half a microsecond
 * (measured: 3–4 % of a thread's CPU on the 1M set), a filter that says "not kept" for all but a few percent does not.
 */
class KeptIds {
  readonly ids = new Set<string>();
  readonly #filter = new Int32Array(FILTER_BITS / 32);

  add(id: string, hash: number): void {
    this.ids.add(id);
    const bit = hash % FILTER_BITS;
    this.#filter[bit >>> 5] = (this.#filter[bit >>> 5] as number) | (1 << (bit & 31));
  }

  has(id: string, hash: number): boolean {
    const bit = hash % FILTER_BITS;
    return ((this.#filter[bit >>> 5] as number) & (1 << (bit & 31))) !== 0 && this.ids.has(id);
  }
}

/** Sorts each entry into accepted or pending, and gathers what the main thread checks the shares with. */
class ShareCollector {
  readonly badLineOrder: [number, number, number, number][] = [];
  readonly aggregates: SplitReadResult['aggregates'] = [];
  readonly watermarks = new DoubleBlocks();
  readonly #stats: ReadStats;
  readonly #fileCount: number;
  readonly #indexes: number[];
  readonly #onPending: SplitReadOptions['onPending'];
  /** Hashes of accepted requestIds. */
  readonly #accepted = new DoubleBlocks();
  #pending: SplitEntry[] = [];
  readonly #pendingIds = new KeptIds();
  #repeats: Mark[] = [];
  readonly #firstSeen: Record<string, Place> = Object.create(null) as Record<string, Place>;
  readonly #answered: Record<string, number> = Object.create(null) as Record<string, number>;
  #learned: SplitReadResult['learned'] = null;
  readonly #firstComparison: Record<string, Place> = Object.create(null) as Record<string, Place>;
  /** The target last found seen and compared. */
  #settled: string | undefined;

  constructor(stats: ReadStats, fileCount: number, indexes: number[], onPending: SplitReadOptions['onPending']) {
    this.#stats = stats;
    this.#fileCount = fileCount;
    this.#indexes = indexes;
    this.#onPending = onPending;
  }

  /** Hands the kept entries over when there are enough of them (or `all`). */
  #flush(all: boolean): void {
    if (this.#onPending === undefined || (!all && this.#pending.length < PENDING_BATCH)) return;
    this.#onPending(this.#pending, this.#repeats);
    this.#pending = [];
    this.#repeats = [];
  }

  /** Notes where a shadow's or comparison's target was first seen, and first compared. */
  target(mark: Mark): void {
    const record = mark.record;
    if ((record.type !== 'shadow' && record.type !== 'comparison') || typeof record.target !== 'string' || record.target === this.#settled) return;
    if (!Object.hasOwn(this.#firstSeen, record.target)) this.#firstSeen[record.target] = [mark.pm, mark.file, mark.pos];
    if (record.type === 'comparison' && !Object.hasOwn(this.#firstComparison, record.target)) this.#firstComparison[record.target] = [mark.pm, mark.file, mark.pos];
    if (record.type === 'shadow' && record.error === undefined && !Object.hasOwn(this.#firstComparison, record.target)) {
      this.#answered[record.target] = Math.min(COMPARISON_PROBE, (this.#answered[record.target] ?? 0) + 1);
    }
    // Seen and compared: nothing more to note of it, so its next records skip the lookups.
    if (Object.hasOwn(this.#firstComparison, record.target)) this.#settled = record.target;
  }

  /** Whether the entry is accepted (then counted here); otherwise it is kept for the main thread. */
  entry(entry: SplitEntry): boolean {
    const hash = hashString(entry.requestId);
    if (entry.closedBy === 'complete' && entry.plain && entry.crossings === 0 && !this.#pendingIds.has(entry.requestId, hash)) {
      const stats = this.#stats;
      stats.entries++;
      stats.closedBy.complete++;
      stats.duplicates += entry.duplicates;
      this.#accepted.push(hash);
      if (entry.learned >= 0) {
        const open = entry.marks[0] as Mark;
        if (this.#learned === null) this.#learned = { fewest: entry.learned, first: [open.pm, open.file, open.pos] };
        else this.#learned.fewest = Math.min(this.#learned.fewest, entry.learned);
      }
      return true;
    }
    this.#pendingIds.add(entry.requestId, hash);
    this.#pending.push(entry);
    this.#flush(false);
    return false;
  }

  repeat(mark: Mark): void {
    if (this.#pendingIds.has(mark.record.requestId, hashString(mark.record.requestId))) this.#repeats.push(mark);
    else this.#stats.duplicates++;
  }

  finish(joiner: Joiner): SplitReadResult {
    this.#flush(true);
    return {
      stats: this.#stats,
      fileIndexes: this.#indexes,
      fileCount: this.#fileCount,
      badLineOrder: this.badLineOrder,
      accepted: this.#accepted.toArray().sort(),
      pendingIds: Float64Array.from([...this.#pendingIds.ids].map(hashString)).sort(),
      pending: this.#pending,
      repeats: this.#repeats,
      aggregates: this.aggregates,
      firstSeen: { ...this.#firstSeen },
      answeredUncompared: { ...this.#answered },
      learned: this.#learned,
      firstComparison: { ...this.#firstComparison },
      watermarks: this.watermarks.toArray(),
      maxKey: joiner.watermark,
      peakRemembered: joiner.yielded.peak,
      doubts: joiner.yielded.doubts,
    };
  }
}
