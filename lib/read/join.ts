/**
 * Joins per-request records by requestId inside a window of log time and of open-entry count.
 * Records arrive merged across files in (roughly) log-time order; entries leave as soon as they are complete, or when the
 * window moves past them, so memory is bounded by the window and not by the size of the logs.
 *
 * Every step is amortised O(1) per record whatever the arrival order: requestIds wait in a queue in the order their
 * entries opened, stamped with the watermark of that moment, which only grows; so the queue is sorted by stamp and
 * eviction only ever looks at its front. The id of an entry that completed early stays in the queue (lazy deletion)
 * and is skipped when it reaches the front. Yielded requests are remembered the same way, as a bit set of the records
 * they had, to tell a repeated record (a duplicate) from a straggler (late).
 */
import type { ComparisonRecord, ProductionRecord, ShadowLogRecord, ShadowRecord, SkippedRecord } from '../types.js';
import type { ParsedRecord } from './parse-record.js';
import { StampedQueue } from './stamped-queue.js';
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
  /** Split reads only (else `null`); `learned`: how many targets were learned when it opened. */
  split: { marks: Mark[]; crossing: Mark | null; crossings: number; duplicates: number; learned: number } | null;
}

interface JoinOptions {
  windowMs: number;
  maxOpenEntries: number;
  expectComparisons: boolean;
  targets: string[] | undefined;
  /** A reader of some of the files: entries are yielded as `SplitEntry`s and its entry figures are left uncounted. */
  split?: SplitHooks;
  /** Targets known to log comparisons from the start (a join of requests picked out of a whole read). */
  compared?: string[];
}

const MAX_LEARNED_TARGETS = 64;
const MAX_EXAMPLES = 5;
/**
 * Answered shadows of a target read without a single comparison for it, after which its entries stop waiting for one:
 * the log was written with `compare: false` (or a comparator that never logs), and waiting would hold every entry for
 * the whole window.
 */
export const COMPARISON_PROBE = 1000;
/** Yielded requestIds are remembered for this many windows of log time (and at most this many times `maxOpenEntries`). */
export const REMEMBER_WINDOWS = 2;
/** Steps without a target learned before a split read takes its learned targets as all there are (see `#plain`). */
const SETTLED_STEPS = 1000;
/**
 * Targets whose records are remembered after their request was yielded: two bits each (shadow, comparison) after the
 * production and skipped bits, within the 53 bits a double holds exactly. Records of further targets are not
 * recognised as repeats once their request was yielded (they count as late).
 */
const REMEMBERED_TARGETS = 25;
const BIT = Array.from({ length: 2 + 2 * REMEMBERED_TARGETS }, (_, i) => 2 ** i);

export class Joiner {
  readonly #open = new Map<string, OpenEntry>();
  /** Ids of open entries (and of some closed since) in the order they opened, stamped with `openedAt`. */
  readonly #queue = new StampedQueue();
  /** requestIds yielded recently, with a bit set of the records they had: repeats are duplicates, others are late. */
  readonly #closed = new Map<string, number>();
  /** The same ids in the order they were first yielded, stamped with that watermark. */
  readonly #closedQueue = new StampedQueue();
  /** Bit index (shadow; comparison is one more) of the first `REMEMBERED_TARGETS` targets seen. */
  readonly #targetBits = new Map<string, number>();
  readonly #targets: Set<string>;
  readonly #learnTargets: boolean;
  /** Answered shadows per target, until the target's first comparison is seen. */
  readonly #answered = new Map<string, number>();
  /** Targets that have had a comparison. */
  readonly #compared = new Set<string>();
  readonly #options: JoinOptions;
  readonly #stats: ReadStats;
  #watermark = -Infinity;
  /** Records added or ticked so far. */
  #step = 0;
  /** The step a target was last learned at. */
  #learnedStep = 0;
  /** Split reads: the step each compared target had its first comparison at, and when each remembered id was yielded. */
  readonly #comparedAt = new Map<string, number>();
  readonly #closedAt: Map<string, number> | null;
  /** Split reads: repeats whose request one reader of every file may already have forgotten (then it reads alone). */
  doubts = 0;
  /** Largest number of yielded requestIds remembered at once. */
  peakRemembered = 0;
  /**
   * Where each of `stats.orphanExamples` was yielded: [step, order in that step]. A reader that joins only some of the
   * requests (one of several threads) yields its orphans at the same steps as a reader of all, so the first few of
   * all readers merge by this order into exactly those one reader would have listed.
   */
  readonly orphanOrder: [number, number][] = [];

  constructor(options: JoinOptions, stats: ReadStats) {
    this.#options = options;
    this.#stats = stats;
    this.#targets = new Set(options.targets ?? []);
    this.#learnTargets = options.targets === undefined;
    this.#closedAt = options.split === undefined ? null : new Map();
    for (const target of options.compared ?? []) {
      this.#compared.add(target);
      this.#comparedAt.set(target, 0);
    }
  }

  /**
   * Counts a record this reader does not join (another thread joins its request) as if it had been added: the
   * window moves on, entries it pushes out leave, and targets are learned, so every other request is judged as
   * by a reader of every record. `answered`: a shadow record without `error` (see `needsAnswered`).
   */
  tick(time: number, type: ShadowLogRecord['type'], target: string | undefined, answered: boolean, out: ShadowLogEntry[]): void {
    this.#step++;
    if (time > this.#watermark) this.#watermark = time;
    this.#observe(type, target, answered);
    this.#evict(out);
  }

  /** Whether `tick` needs to know if a shadow of `target` was answered: only while its comparisons are still in doubt. */
  needsAnswered(target: string): boolean {
    return this.#options.expectComparisons && !this.#compared.has(target) && (this.#answered.get(target) ?? 0) < COMPARISON_PROBE;
  }

  /**
   * What every record teaches, whichever request it belongs to (and whether it repeats one): the targets seen, which
   * of them log comparisons, and each target's bit in the memory of yielded requests.
   */
  #observe(type: ShadowLogRecord['type'], target: string | undefined, answered: boolean): void {
    if ((type !== 'shadow' && type !== 'comparison') || typeof target !== 'string') return;
    this.#learn(target);
    if (!this.#targetBits.has(target) && this.#targetBits.size < REMEMBERED_TARGETS) this.#targetBits.set(target, 2 + 2 * this.#targetBits.size);
    if (type === 'comparison') {
      if (!this.#compared.has(target) && this.#compared.size < MAX_LEARNED_TARGETS) {
        this.#compared.add(target);
        this.#comparedAt.set(target, this.#step);
        this.#answered.delete(target);
      }
    } else if (answered) {
      this.#countAnswered(target);
    }
  }

  /**
   * Adds one record at log time `time` (the reader's outlier-proof time, not necessarily its timestamp); pushes the
   * entries it completes or evicts onto `out`.
   */
  add(record: RequestRecord, time: number, out: ShadowLogEntry[], mark?: Mark): void {
    const before = this.#watermark;
    this.#step++;
    if (time > this.#watermark) this.#watermark = time;
    this.#observe(record.type, (record as { target?: string }).target, record.type === 'shadow' && record.error === undefined);
    const id = record.requestId;
    let entry = this.#open.get(id);
    if (entry === undefined) {
      const closed = this.#closed.get(id);
      if (closed !== undefined && this.#closedAt !== null) this.#doubtForgetting(id, before);
      if (closed !== undefined && hasBit(closed, this.#bitOf(record))) {
        if (mark !== undefined && this.#options.split !== undefined) this.#options.split.onRepeat(mark);
        else this.#stats.duplicates++;
        this.#evict(out);
        return;
      }
      entry = {
        requestId: id,
        production: null,
        shadows: [],
        comparisons: [],
        skipped: null,
        openedAt: this.#watermark,
        openedStep: this.#step,
        late: closed !== undefined,
        split: mark === undefined ? null : { marks: [], crossing: null, crossings: 0, duplicates: 0, learned: this.#targets.size },
      };
      this.#open.set(id, entry);
      this.#queue.push(id, entry.openedAt);
      if (this.#open.size > this.#stats.peakOpenEntries) this.#stats.peakOpenEntries = this.#open.size;
    } else if (entry.split !== null && mark !== undefined) {
      // One reader of every file reads other files' records between `before` and this one: any of them may have moved
      // the window past the entry first.
      const end = entry.openedAt + this.#options.windowMs;
      if (end >= before && end < this.#watermark) {
        if (entry.split.crossing === null) entry.split.crossing = mark;
        entry.split.crossings++;
      }
    }
    entry.split?.marks.push(mark as Mark);
    this.#attach(entry, record);
    if (this.#isComplete(entry)) {
      this.#close(entry, 'complete', out);
    }
    this.#evict(out);
  }

  /** A repeat's request is remembered here; one reader of every file may have forgotten it just before (split reads). */
  #doubtForgetting(id: string, before: number): void {
    const at = this.#closedAt?.get(id);
    const forgetEnd = (at ?? Infinity) + REMEMBER_WINDOWS * this.#options.windowMs;
    if (forgetEnd >= before && forgetEnd < this.#watermark) this.doubts++;
  }

  /** The newest merge key read (records added or ticked). */
  get watermark(): number {
    return this.#watermark;
  }

  /** When the entry of `id` open now opened (watermark), or `undefined`. */
  openedAt(id: string): number | undefined {
    return this.#open.get(id)?.openedAt;
  }

  /** Yields every entry still open (end of input). */
  flush(out: ShadowLogEntry[]): void {
    this.#step = Infinity;
    for (const entry of this.#open.values()) this.#close(entry, 'end_of_input', out);
    this.#queue.clear();
    this.#closed.clear();
    this.#closedQueue.clear();
  }

  #attach(entry: OpenEntry, record: RequestRecord): void {
    switch (record.type) {
      case 'production':
        if (entry.production === null) entry.production = record;
        else this.#duplicate(entry);
        break;
      case 'skipped':
        if (entry.skipped === null) entry.skipped = record;
        else this.#duplicate(entry);
        break;
      case 'shadow':
        if (entry.shadows.some((s) => s.target === record.target)) this.#duplicate(entry);
        else entry.shadows.push(record);
        break;
      case 'comparison':
        if (entry.comparisons.some((c) => c.target === record.target)) this.#duplicate(entry);
        else entry.comparisons.push(record);
        break;
    }
  }

  #duplicate(entry: OpenEntry): void {
    if (entry.split !== null) entry.split.duplicates++;
    else this.#stats.duplicates++;
  }

  /**
   * Whether an entry's completeness hung only on its own records and what every reader knows when it opened (split
   * reads): see `SplitEntry.plain`. Targets learned from the logs count when none had been learned for a while before
   * it opened (`SETTLED_STEPS`) and none while it was open; the main thread checks every reader had learned them all.
   */
  #plain(entry: OpenEntry, split: NonNullable<OpenEntry['split']>): { plain: boolean; learned: number } {
    const production = entry.production;
    let learned = -1;
    if (production !== null && !Array.isArray(production.targets) && this.#learnTargets) {
      if (entry.openedStep - this.#learnedStep < SETTLED_STEPS || split.learned !== this.#targets.size) return { plain: false, learned };
      learned = split.learned;
    }
    if (!this.#options.expectComparisons) return { plain: true, learned };
    for (const shadow of entry.shadows) {
      if (shadow.error !== undefined) continue;
      const at = this.#comparedAt.get(shadow.target);
      if (at === undefined || at >= entry.openedStep) return { plain: false, learned };
    }
    return { plain: true, learned };
  }

  #learn(target: string): void {
    if (!this.#learnTargets || this.#targets.size >= MAX_LEARNED_TARGETS || this.#targets.has(target)) return;
    this.#targets.add(target);
    this.#learnedStep = this.#step;
  }

  #countAnswered(target: string): void {
    if (this.#compared.has(target)) return;
    const n = this.#answered.get(target);
    if (n !== undefined) this.#answered.set(target, n + 1);
    else if (this.#answered.size < MAX_LEARNED_TARGETS) this.#answered.set(target, 1);
  }

  /** Whether an answered shadow of `target` is worth waiting a comparison for. */
  #awaitsComparison(target: string): boolean {
    if (!this.#options.expectComparisons) return false;
    if (this.#compared.has(target)) return true;
    return (this.#answered.get(target) ?? 0) < COMPARISON_PROBE;
  }

  #isComplete(entry: OpenEntry): boolean {
    if (entry.skipped !== null) return true;
    if (entry.production === null || entry.shadows.length === 0) return false;
    // The production record names the targets its request was sent to; older logs without it fall back to the
    // targets given or learned.
    const targets = Array.isArray(entry.production.targets) ? entry.production.targets : this.#targets;
    for (const target of targets) {
      if (!entry.shadows.some((s) => s.target === target)) return false;
    }
    for (const comparison of entry.comparisons) {
      if (!entry.shadows.some((s) => s.target === comparison.target)) return false;
    }
    for (const shadow of entry.shadows) {
      if (shadow.error === undefined && this.#awaitsComparison(shadow.target) && !entry.comparisons.some((c) => c.target === shadow.target)) {
        return false;
      }
    }
    return true;
  }

  #evict(out: ShadowLogEntry[]): void {
    const oldest = this.#watermark - this.#options.windowMs;
    const queue = this.#queue;
    for (let id = queue.peekId(); id !== undefined; id = queue.peekId()) {
      const entry = this.#open.get(id);
      // Absent: it completed. Another stamp: this id closed and opened again (late), and its newer place is further on.
      if (entry !== undefined && entry.openedAt === queue.peekStamp()) {
        if (entry.openedAt >= oldest && this.#open.size <= this.#options.maxOpenEntries) break;
        this.#close(entry, entry.openedAt < oldest ? 'time_window' : 'count_window', out);
      }
      queue.shift();
    }
    const forgetBefore = this.#watermark - REMEMBER_WINDOWS * this.#options.windowMs;
    const maxRemembered = REMEMBER_WINDOWS * this.#options.maxOpenEntries;
    const closedQueue = this.#closedQueue;
    for (let id = closedQueue.peekId(); id !== undefined; id = closedQueue.peekId()) {
      if (closedQueue.peekStamp() >= forgetBefore && closedQueue.size <= maxRemembered) break;
      this.#closed.delete(id);
      this.#closedAt?.delete(id);
      closedQueue.shift();
    }
  }

  #close(entry: OpenEntry, closedBy: EntryClosedBy, out: ShadowLogEntry[]): void {
    this.#open.delete(entry.requestId);
    this.#remember(entry);
    const stats = this.#stats;
    let orphan: OrphanKind | null = null;
    let missingComparison = false;
    if (closedBy !== 'complete' && entry.skipped === null) {
      if (entry.production === null) orphan = entry.late ? 'late' : 'no_production';
      else if (entry.shadows.length === 0) orphan = 'no_shadow';
      missingComparison = entry.production !== null && this.#lacksComparison(entry);
    }
    if (entry.split !== null) {
      out.push(this.#splitEntry(entry, closedBy, orphan, missingComparison));
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

  #splitEntry(entry: OpenEntry, closedBy: EntryClosedBy, orphan: OrphanKind | null, missingComparison: boolean): SplitEntry {
    const split = entry.split as NonNullable<OpenEntry['split']>;
    const { plain, learned } = this.#plain(entry, split);
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

  /** An answered shadow whose comparison was waited for and never came. */
  #lacksComparison(entry: OpenEntry): boolean {
    return entry.shadows.some(
      (s) => s.error === undefined && this.#awaitsComparison(s.target) && !entry.comparisons.some((c) => c.target === s.target),
    );
  }

  #remember(entry: OpenEntry): void {
    const previous = this.#closed.get(entry.requestId);
    let bits = previous ?? 0;
    if (entry.production !== null) bits = withBit(bits, 0);
    if (entry.skipped !== null) bits = withBit(bits, 1);
    for (const shadow of entry.shadows) bits = withBit(bits, this.#bitOf(shadow));
    for (const comparison of entry.comparisons) bits = withBit(bits, this.#bitOf(comparison));
    this.#closed.set(entry.requestId, bits);
    // A late entry adds to what is remembered, for as long as the first was.
    if (previous === undefined) {
      this.#closedQueue.push(entry.requestId, this.#watermark);
      this.#closedAt?.set(entry.requestId, this.#watermark);
      if (this.#closedQueue.size > this.peakRemembered) this.peakRemembered = this.#closedQueue.size;
    }
  }

  /** The bit of a record in the set remembered per yielded request; -1 when its target is past the first few. */
  #bitOf(record: RequestRecord): number {
    if (record.type === 'production') return 0;
    if (record.type === 'skipped') return 1;
    const bit = this.#targetBits.get(record.target);
    if (bit === undefined) return -1;
    return record.type === 'shadow' ? bit : bit + 1;
  }
}

function hasBit(bits: number, bit: number): boolean {
  return bit >= 0 && Math.floor(bits / (BIT[bit] as number)) % 2 === 1;
}

function withBit(bits: number, bit: number): number {
  return bit < 0 || hasBit(bits, bit) ? bits : bits + (BIT[bit] as number);
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
