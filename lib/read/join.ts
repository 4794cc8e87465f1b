/**
 * Joins per-request records by requestId inside a window of log time and of open-entry count.
 * Records arrive merged across files in (roughly) log-time order; entries leave as soon as they are complete, or when the
 * window moves past them, so memory is bounded by the window and not by the size of the logs.
 *
 * Every step is amortised O(1) per record whatever the arrival order: requestIds wait in a queue in the order their
 * entries opened, so by the watermark of that moment, which only grows; eviction only ever looks at its front. The id
 * of an entry that completed early stays in the queue (lazy deletion) and is skipped when it reaches the front.
 * Yielded requests are remembered the same way, as a bit set of the records they had, to tell a repeated record (a
 * duplicate) from a straggler (late): yielded-memory.ts. One map from requestId to its open entry or its place in that
 * memory serves both. What every record teaches (targets, which log comparisons) is in join-targets.ts.
 */
import type { ComparisonRecord, ProductionRecord, ShadowLogRecord, ShadowRecord, SkippedRecord } from '../types.js';
import type { ParsedRecord } from './parse-record.js';
import { StampedQueue } from './stamped-queue.js';
import { TargetKnowledge, type TargetOptions } from './join-targets.js';
import { hasBit, REMEMBER_WINDOWS, withBit, YieldedMemory, type RequestMap } from './yielded-memory.js';
import type { EntryClosedBy, OrphanKind, ReadStats, ShadowLogEntry } from './types.js';

export type RequestRecord = ProductionRecord | ShadowRecord | ComparisonRecord | SkippedRecord;

/**
 * A record read by a reader of some of the files (one share of a split read), with its place among every file's
 * records: `(pm, file, pos)` orders records as one reader of every file merges them, and `pm` is that reader's
 * watermark when it adds the record (see `ParsedRecord.pm`). `prevW` is this reader's watermark before it.
 */
export type Mark = Omit<ParsedRecord, 'record'> & { record: RequestRecord };

/** An entry as a reader of some of the files yields it: what main needs to accept it or join it again. */
export interface SplitEntry extends ShadowLogEntry {
  openedAt: number;
  /** Every record added to it, repeats included, in the order read. */
  marks: Mark[];
  /** Its completeness did not hang on what was learned from other files (targets listed; comparisons known to come). */
  plain: boolean;
  /** When it is plain on the strength of the targets learned so far (its production does not list them), how many; else -1. */
  learned: number;
  /**
   * The first record added after the window may have moved past the entry in a reader of every file (which also reads
   * other files' records in between); `crossings` counts them.
   */
  crossing: Mark | null;
  crossings: number;
  /** Repeated records while it was open. */
  duplicates: number;
  missingComparison: boolean;
}

/** What a split read's joiner hands its reader besides entries. */
interface SplitHooks {
  /** A record repeating one of a request already yielded (one reader counts it in `duplicates`). */
  onRepeat: (mark: Mark) => void;
}

interface OpenEntry {
  requestId: string;
  production: ProductionRecord | null;
  shadows: ShadowRecord[];
  comparisons: ComparisonRecord[];
  skipped: SkippedRecord | null;
  /** The watermark when it opened. */
  openedAt: number;
  /** The step (records added or ticked so far) it opened at: orders entries closed in one step as one reader would. */
  openedStep: number;
  /** Its requestId had already been yielded when it opened. */
  late: boolean;
  /** Late: its place in the memory of yielded requests while remembered there (else -1), and the bits remembered. */
  place: number;
  bits: number;
  /** Split reads only (else `null`); `learned`: how many targets were learned when it opened. */
  split: { marks: Mark[]; crossing: Mark | null; crossings: number; duplicates: number; learned: number } | null;
}

interface JoinOptions extends TargetOptions {
  windowMs: number;
  maxOpenEntries: number;
  /** A reader of some of the files: entries are yielded as `SplitEntry`s and its entry figures are left uncounted. */
  split?: SplitHooks;
}

export { COMPARISON_PROBE } from './join-targets.js';
export { REMEMBER_WINDOWS } from './yielded-memory.js';

const MAX_EXAMPLES = 5;

export class Joiner {
  /** Each open entry, and the place in `#yielded` of each request yielded and remembered. */
  readonly #requests: RequestMap<OpenEntry> = new Map();
  #openCount = 0;
  /**
   * Ids of open entries (and of some closed since) in the order they opened, stamped with `openedStep`, which tells the
   * entry open now from an earlier one of its request: ids, not the entries, so an entry closed is garbage at once
   * (holding the entries until they reached the front doubled the cost of each scavenge).
   */
  readonly #queue = new StampedQueue();
  /** requestIds yielded recently, with a bit set of the records they had: repeats are duplicates, others are late. */
  readonly #yielded: YieldedMemory<OpenEntry>;
  readonly #knows: TargetKnowledge;
  readonly #options: JoinOptions;
  readonly #stats: ReadStats;
  #watermark = -Infinity;
  /** Records added or ticked so far. */
  #step = 0;
  /**
   * Where each of `stats.orphanExamples` was yielded: [step, order in that step]. A reader that joins only some of the
   * requests (one of several threads) yields its orphans at the same steps as a reader of all, so the first few of
   * all readers merge by this order into exactly those one reader would have listed.
   */
  readonly orphanOrder: [number, number][] = [];

  constructor(options: JoinOptions, stats: ReadStats) {
    this.#options = options;
    this.#stats = stats;
    this.#knows = new TargetKnowledge(options);
    this.#yielded = new YieldedMemory(options.split !== undefined, this.#requests);
  }

  /**
   * Counts a record this reader does not join (another thread joins its request) as if it had been added: the
   * window moves on, entries it pushes out leave, and targets are learned, so every other request is judged as
   * by a reader of every record. `answered`: a shadow record without `error` (see `needsAnswered`).
   */
  tick(time: number, type: ShadowLogRecord['type'], target: string | undefined, answered: boolean, out: ShadowLogEntry[]): void {
    this.#step++;
    if (time > this.#watermark) this.#watermark = time;
    this.#knows.observe(type, target, answered, this.#step);
    this.#evict(out);
  }

  /** Whether `tick` needs to know if a shadow of `target` was answered: only while its comparisons are still in doubt. */
  needsAnswered(target: string): boolean {
    return this.#knows.needsAnswered(target);
  }

  /**
   * Adds one record at log time `time` (the reader's outlier-proof time, not necessarily its timestamp); pushes the
   * entries it completes or evicts onto `out`.
   */
  add(record: RequestRecord, time: number, out: ShadowLogEntry[], mark?: Mark): void {
    const before = this.#watermark;
    this.#step++;
    if (time > this.#watermark) this.#watermark = time;
    this.#knows.observe(record.type, (record as { target?: string }).target, record.type === 'shadow' && record.error === undefined, this.#step);
    const found = this.#requests.get(record.requestId);
    let entry: OpenEntry | undefined;
    if (typeof found === 'object') {
      entry = found;
      if (entry.split !== null && mark !== undefined) this.#cross(entry, entry.split, before, mark);
    } else {
      entry = this.#opened(record, before, mark, found);
      if (entry === undefined) {
        // A repeat of a request already yielded.
        if (mark !== undefined && this.#options.split !== undefined) this.#options.split.onRepeat(mark);
        else this.#stats.duplicates++;
        this.#evict(out);
        return;
      }
    }
    entry.split?.marks.push(mark as Mark);
    if (!attach(entry, record)) this.#duplicate(entry);
    if (isComplete(entry, this.#knows)) this.#close(entry, 'complete', out);
    this.#evict(out);
  }

  /**
   * The entry a record of a request not open opens; `undefined` when the record repeats one already yielded. `place`:
   * the request's place in the memory of yielded requests, if it is remembered there.
   */
  #opened(record: RequestRecord, before: number, mark: Mark | undefined, place: number | undefined): OpenEntry | undefined {
    const id = record.requestId;
    let bits = 0;
    if (place !== undefined) {
      this.#yielded.doubt(place, before, this.#watermark, this.#options.windowMs);
      bits = this.#yielded.bitsAt(place);
      if (hasBit(bits, this.#knows.bitOf(record))) return undefined;
      this.#yielded.reopened(place);
    }
    const entry: OpenEntry = {
      requestId: id,
      production: null,
      shadows: [],
      comparisons: [],
      skipped: null,
      openedAt: this.#watermark,
      openedStep: this.#step,
      late: place !== undefined,
      place: place ?? -1,
      bits,
      split: mark === undefined ? null : { marks: [], crossing: null, crossings: 0, duplicates: 0, learned: this.#knows.count },
    };
    this.#requests.set(id, entry);
    this.#queue.push(id, entry.openedStep);
    if (++this.#openCount > this.#stats.peakOpenEntries) this.#stats.peakOpenEntries = this.#openCount;
    return entry;
  }

  /**
   * One reader of every file reads other files' records between `before` and this one: any of them may have moved the
   * window past the entry first (split reads).
   */
  #cross(entry: OpenEntry, split: NonNullable<OpenEntry['split']>, before: number, mark: Mark): void {
    const end = entry.openedAt + this.#options.windowMs;
    if (end >= before && end < this.#watermark) {
      if (split.crossing === null) split.crossing = mark;
      split.crossings++;
    }
  }

  /** The newest merge key read (records added or ticked). */
  get watermark(): number {
    return this.#watermark;
  }

  /** The memory of yielded requests: its peak size, and (split reads) its doubts. */
  get yielded(): { readonly peak: number; readonly doubts: number } {
    return this.#yielded;
  }

  /** When the entry of `id` open now opened (watermark), or `undefined`. */
  openedAt(id: string): number | undefined {
    const found = this.#requests.get(id);
    return typeof found === 'object' ? found.openedAt : undefined;
  }

  /** Yields every entry still open (end of input). */
  flush(out: ShadowLogEntry[]): void {
    this.#step = Infinity;
    // In the order they opened.
    const queue = this.#queue;
    for (let id = queue.peekId(); id !== undefined; id = queue.peekId()) {
      const entry = this.#requests.get(id);
      if (typeof entry === 'object' && entry.openedStep === queue.peekStamp()) this.#close(entry, 'end_of_input', out);
      queue.shift();
    }
    this.#requests.clear();
    this.#yielded.clear();
  }

  #duplicate(entry: OpenEntry): void {
    if (entry.split !== null) entry.split.duplicates++;
    else this.#stats.duplicates++;
  }

  #evict(out: ShadowLogEntry[]): void {
    const oldest = this.#watermark - this.#options.windowMs;
    const queue = this.#queue;
    for (let id = queue.peekId(); id !== undefined; id = queue.peekId()) {
      const entry = this.#requests.get(id);
      // Not open: it completed. Another step: this id closed and opened again (late), and its newer place is further
      // on.
      if (typeof entry === 'object' && entry.openedStep === queue.peekStamp()) {
        if (entry.openedAt >= oldest && this.#openCount <= this.#options.maxOpenEntries) break;
        this.#close(entry, entry.openedAt < oldest ? 'time_window' : 'count_window', out);
      }
      queue.shift();
    }
    this.#yielded.forget(this.#watermark - REMEMBER_WINDOWS * this.#options.windowMs, REMEMBER_WINDOWS * this.#options.maxOpenEntries);
  }

  #close(entry: OpenEntry, closedBy: EntryClosedBy, out: ShadowLogEntry[]): void {
    this.#openCount--;
    this.#remember(entry);
    const stats = this.#stats;
    let orphan: OrphanKind | null = null;
    let missingComparison = false;
    if (closedBy !== 'complete' && entry.skipped === null) {
      if (entry.production === null) orphan = entry.late ? 'late' : 'no_production';
      else if (entry.shadows.length === 0) orphan = 'no_shadow';
      missingComparison = entry.production !== null && lacksComparison(entry, this.#knows);
    }
    if (entry.split !== null) {
      out.push(this.#splitEntry(entry, entry.split, closedBy, orphan, missingComparison));
      return;
    }
    if (missingComparison) stats.missingComparisons++;
    stats.entries++;
    stats.closedBy[closedBy]++;
    if (orphan !== null) {
      stats.orphans[orphan]++;
      if (stats.orphanExamples.length < MAX_EXAMPLES) {
        stats.orphanExamples.push({ requestId: entry.requestId, kind: orphan });
        this.orphanOrder.push([this.#step, entry.openedStep]);
      }
    }
    out.push(joinedEntry(entry, closedBy, orphan));
  }

  #splitEntry(entry: OpenEntry, split: NonNullable<OpenEntry['split']>, closedBy: EntryClosedBy, orphan: OrphanKind | null, missingComparison: boolean): SplitEntry {
    const { plain, learned } = this.#knows.plain(entry.production, entry.shadows, entry.openedStep, split.learned);
    // Spelled out, not spread: V8 copied the spread object slowly (measured: a seventh of a split read's CPU).
    return {
      requestId: entry.requestId,
      production: entry.production,
      shadows: entry.shadows,
      comparisons: entry.comparisons,
      skipped: entry.skipped,
      closedBy,
      orphan,
      openedAt: entry.openedAt,
      marks: split.marks,
      plain,
      learned,
      crossing: split.crossing,
      crossings: split.crossings,
      duplicates: split.duplicates,
      missingComparison,
    };
  }

  /**
   * Remembers a yielded entry's records (a late entry adds to what is remembered, for as long as the first was), in
   * place of the entry in the map.
   */
  #remember(entry: OpenEntry): void {
    let bits = entry.place >= 0 ? entry.bits : 0;
    if (entry.production !== null) bits = withBit(bits, 0);
    if (entry.skipped !== null) bits = withBit(bits, 1);
    for (const shadow of entry.shadows) bits = withBit(bits, this.#knows.bitOf(shadow));
    for (const comparison of entry.comparisons) bits = withBit(bits, this.#knows.bitOf(comparison));
    this.#yielded.remember(entry.requestId, bits, this.#watermark, entry.place);
  }
}

/**
 * Empties the array of entries a step yielded, once its reader has taken them: by `pop` when there is one (most
 * steps), which costs a tenth of setting `length` to 0.
 */
export function empty(out: ShadowLogEntry[]): void {
  if (out.length === 1) out.pop();
  else out.length = 0;
}

/** The joined entry a reader hands on: an open entry's records and how it closed. */
function joinedEntry(entry: OpenEntry, closedBy: EntryClosedBy, orphan: OrphanKind | null): ShadowLogEntry {
  return {
    requestId: entry.requestId,
    production: entry.production,
    shadows: entry.shadows,
    comparisons: entry.comparisons,
    skipped: entry.skipped,
    closedBy,
    orphan,
  };
}

/** Adds a record to its entry; `false` when the entry already had one of its kind (a duplicate). */
function attach(entry: OpenEntry, record: RequestRecord): boolean {
  switch (record.type) {
    case 'production':
      if (entry.production !== null) return false;
      entry.production = record;
      return true;
    case 'skipped':
      if (entry.skipped !== null) return false;
      entry.skipped = record;
      return true;
    case 'shadow':
      if (hasTarget(entry.shadows, record.target)) return false;
      entry.shadows.push(record);
      return true;
    case 'comparison':
      if (hasTarget(entry.comparisons, record.target)) return false;
      entry.comparisons.push(record);
      return true;
  }
}

/**
 * Whether one of `records` is of `target`. Loops, not `some` with a closure, here and below: these run for every
 * record, and a closure per call is an allocation per call unless the compiler removes it.
 */
function hasTarget(records: readonly { target: unknown }[], target: unknown): boolean {
  for (let i = 0; i < records.length; i++) if ((records[i] as { target: unknown }).target === target) return true;
  return false;
}

function isComplete(entry: OpenEntry, knows: TargetKnowledge): boolean {
  if (entry.skipped !== null) return true;
  if (entry.production === null || entry.shadows.length === 0) return false;
  // The production record names the targets its request was sent to; older logs without it fall back to the
  // targets given or learned.
  const targets = knows.targetsOf(entry.production);
  for (let i = 0; i < targets.length; i++) if (!hasTarget(entry.shadows, targets[i])) return false;
  const comparisons = entry.comparisons;
  for (let i = 0; i < comparisons.length; i++) if (!hasTarget(entry.shadows, (comparisons[i] as ComparisonRecord).target)) return false;
  return !lacksComparison(entry, knows);
}

/** An answered shadow whose comparison was waited for and never came. */
function lacksComparison(entry: OpenEntry, knows: TargetKnowledge): boolean {
  const shadows = entry.shadows;
  for (let i = 0; i < shadows.length; i++) {
    const s = shadows[i] as ShadowRecord;
    if (s.error === undefined && knows.awaitsComparison(s.target) && !hasTarget(entry.comparisons, s.target)) return true;
  }
  return false;
}
