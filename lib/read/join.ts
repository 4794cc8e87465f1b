/**
 * Joins per-request records by requestId inside a window of log time and of open-entry count.
 * Records arrive merged across files in (roughly) timestamp order; entries leave as soon as they are complete, or when the
 * window moves past them, so memory is bounded by the window and not by the size of the logs.
 */
import type { ComparisonRecord, ProductionRecord, ShadowRecord, SkippedRecord } from '../types.js';
import type { EntryClosedBy, OrphanKind, ReadStats, ShadowLogEntry } from './types.js';

type RequestRecord = ProductionRecord | ShadowRecord | ComparisonRecord | SkippedRecord;

interface OpenEntry {
  requestId: string;
  production: ProductionRecord | null;
  shadows: ShadowRecord[];
  comparisons: ComparisonRecord[];
  skipped: SkippedRecord | null;
  /** Log time of its first record, ms. */
  firstTime: number;
  /** Its requestId had already been yielded when it opened. */
  late: boolean;
}

export interface JoinOptions {
  windowMs: number;
  maxOpenEntries: number;
  expectComparisons: boolean;
  targets: string[] | undefined;
}

const MAX_LEARNED_TARGETS = 64;
const MAX_EXAMPLES = 5;

export class Joiner {
  readonly #open = new Map<string, OpenEntry>();
  /** requestIds yielded recently, to tell a straggler from a lost request; bounded like the open entries. */
  readonly #recent = new Map<string, number>();
  readonly #targets: Set<string>;
  readonly #learnTargets: boolean;
  readonly #options: JoinOptions;
  readonly #stats: ReadStats;
  #watermark = -Infinity;

  constructor(options: JoinOptions, stats: ReadStats) {
    this.#options = options;
    this.#stats = stats;
    this.#targets = new Set(options.targets ?? []);
    this.#learnTargets = options.targets === undefined;
  }

  get openEntries(): number {
    return this.#open.size;
  }

  /** Adds one record; pushes the entries it completes or evicts onto `out`. */
  add(record: RequestRecord, time: number, out: ShadowLogEntry[]): void {
    if (time > this.#watermark) this.#watermark = time;
    const id = record.requestId;
    let entry = this.#open.get(id);
    if (entry === undefined) {
      entry = {
        requestId: id,
        production: null,
        shadows: [],
        comparisons: [],
        skipped: null,
        firstTime: time,
        late: this.#recent.has(id),
      };
      this.#open.set(id, entry);
      if (this.#open.size > this.#stats.peakOpenEntries) this.#stats.peakOpenEntries = this.#open.size;
    }
    this.#attach(entry, record);
    if (this.#isComplete(entry)) {
      this.#close(entry, 'complete', out);
    }
    this.#evict(out);
  }

  /** Yields every entry still open (end of input). */
  flush(out: ShadowLogEntry[]): void {
    for (const entry of this.#open.values()) {
      this.#close(entry, 'end_of_input', out);
    }
    this.#recent.clear();
  }

  #attach(entry: OpenEntry, record: RequestRecord): void {
    switch (record.type) {
      case 'production':
        if (entry.production === null) entry.production = record;
        else this.#stats.duplicates++;
        break;
      case 'skipped':
        if (entry.skipped === null) entry.skipped = record;
        else this.#stats.duplicates++;
        break;
      case 'shadow':
        if (entry.shadows.some((s) => s.target === record.target)) {
          this.#stats.duplicates++;
        } else {
          entry.shadows.push(record);
          this.#learn(record.target);
        }
        break;
      case 'comparison':
        if (entry.comparisons.some((c) => c.target === record.target)) {
          this.#stats.duplicates++;
        } else {
          entry.comparisons.push(record);
          this.#learn(record.target);
        }
        break;
    }
  }

  #learn(target: string): void {
    if (this.#learnTargets && this.#targets.size < MAX_LEARNED_TARGETS) this.#targets.add(target);
  }

  #isComplete(entry: OpenEntry): boolean {
    if (entry.skipped !== null) return true;
    if (entry.production === null || entry.shadows.length === 0) return false;
    // The production record names the targets its request was sent to; older logs without it fall back to the
    // targets given or learned.
    for (const target of entry.production.targets ?? this.#targets) {
      if (!entry.shadows.some((s) => s.target === target)) return false;
    }
    for (const comparison of entry.comparisons) {
      if (!entry.shadows.some((s) => s.target === comparison.target)) return false;
    }
    if (this.#options.expectComparisons) {
      for (const shadow of entry.shadows) {
        if (shadow.error === undefined && !entry.comparisons.some((c) => c.target === shadow.target)) return false;
      }
    }
    return true;
  }

  #evict(out: ShadowLogEntry[]): void {
    const oldest = this.#watermark - this.#options.windowMs;
    // Entries were opened in (roughly) time order, so the expired ones sit at the front of the Map.
    for (const entry of this.#open.values()) {
      if (entry.firstTime >= oldest) break;
      this.#close(entry, 'time_window', out);
    }
    while (this.#open.size > this.#options.maxOpenEntries) {
      const first = this.#open.values().next();
      if (first.done === true) break;
      this.#close(first.value, 'count_window', out);
    }
    for (const [id, time] of this.#recent) {
      if (time >= oldest && this.#recent.size <= this.#options.maxOpenEntries) break;
      this.#recent.delete(id);
    }
  }

  #close(entry: OpenEntry, closedBy: EntryClosedBy, out: ShadowLogEntry[]): void {
    this.#open.delete(entry.requestId);
    this.#recent.set(entry.requestId, this.#watermark);
    const stats = this.#stats;
    let orphan: OrphanKind | null = null;
    if (closedBy !== 'complete' && entry.skipped === null) {
      if (entry.production === null) orphan = entry.late ? 'late' : 'no_production';
      else if (entry.shadows.length === 0) orphan = 'no_shadow';
      if (
        this.#options.expectComparisons &&
        entry.production !== null &&
        entry.shadows.some((s) => s.error === undefined && !entry.comparisons.some((c) => c.target === s.target))
      ) {
        stats.missingComparisons++;
      }
    }
    stats.entries++;
    stats.closedBy[closedBy]++;
    if (orphan !== null) {
      stats.orphans[orphan]++;
      if (stats.orphanExamples.length < MAX_EXAMPLES) stats.orphanExamples.push({ requestId: entry.requestId, kind: orphan });
    }
    out.push({
      requestId: entry.requestId,
      production: entry.production,
      shadows: entry.shadows,
      comparisons: entry.comparisons,
      skipped: entry.skipped,
      closedBy,
      orphan,
    });
  }
}
