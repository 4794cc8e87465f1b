/**
 * The main thread's half of a split read (read/split-read.ts): each share read some of the files and summarised the
 * requests it could join alone; here their summaries merge, the entries they kept are checked against the other
 * shares, and the requests whose records sit in several shares are joined again, in the order one reader of every file
 * reads their records and with its watermark (each record's `pm`). The result is the report one reader builds, or
 * `undefined` when the shares cannot prove it is (then the logs are read again another way): see docs/at-scale.md.
 */
import { COMPARISON_PROBE, Joiner, REMEMBER_WINDOWS, type RequestRecord } from '../read/join.js';
import { emptyReadStats } from '../read/read-shadow-log.js';
import { comparePlaces, type KeptEntry, type Place, type PlacedRecord, type SplitReadResult } from '../read/split-read.js';
import type { ReadStats, ShadowLogEntry } from '../read/types.js';
import type { ReportBuilder } from './report-builder.js';
import type { Report } from './types.js';

const MAX_EXAMPLES = 5;
/** Targets with a bit in the join's memory of yielded requests (join.ts); past them, shares' bits could differ. */
const REMEMBERED_TARGETS = 25;

interface SplitJoinOptions {
  windowMs: number;
  maxOpenEntries: number;
  expectComparisons: boolean;
  targets: string[] | undefined;
}

/** An orphan example with where one reader would have yielded it (see `Joiner.orphanOrder`). */
interface Orphan {
  example: ReadStats['orphanExamples'][number];
  key: [number, number, number, number, number];
}

/** Whether two sorted hash arrays share a value. */
function intersects(a: Float64Array, b: Float64Array): boolean {
  for (let i = 0, j = 0; i < a.length && j < b.length; ) {
    const x = a[i] as number;
    const y = b[j] as number;
    if (x === y) return true;
    if (x < y) i++;
    else j++;
  }
  return false;
}

/**
 * Why the shares cannot give one reader's result, or `null`: the windows' bounds must have held, and no request a share
 * joined alone may have records anywhere else.
 */
function disagreement(shares: readonly SplitReadResult[], o: SplitJoinOptions): string | null {
  const sum = (f: (r: SplitReadResult) => number): number => shares.reduce((n, r) => n + f(r), 0);
  if (sum((r) => r.stats.peakOpenEntries) > o.maxOpenEntries) return 'the count window may have bound';
  if (sum((r) => r.peakRemembered) > REMEMBER_WINDOWS * o.maxOpenEntries) return 'the memory of yielded requests may have bound';
  if (sum((r) => r.doubts) > 0) return 'a repeat came when its request may have been forgotten';
  const targets = new Set(shares.flatMap((r) => Object.keys(r.firstSeen)));
  if (targets.size > REMEMBERED_TARGETS) return 'more targets than the join remembers by bit';
  if (o.targets === undefined && !learnedAll(shares, targets.size)) return 'a share joined requests before it had learned every target';
  const crossed = shares.some((a, i) => shares.some((b, j) => (i === j ? intersects(a.accepted, b.pendingIds) : intersects(a.accepted, b.accepted) || intersects(a.accepted, b.pendingIds))));
  return crossed ? 'a request joined by one share has records in another, or later in its own' : null;
}

const placeOf = (m: PlacedRecord): Place => [m.pm, m.file, m.pos];

/** `comparePlaces` of two records' places, without building them. */
function compareMarks(a: PlacedRecord, b: PlacedRecord): number {
  return a.pm - b.pm || a.file - b.file || a.pos - b.pos;
}

/** `comparePlaces(place, placeOf(m))`, without building the second. */
function comparePlaceToMark(place: Place, m: PlacedRecord): number {
  return place[0] - m.pm || place[1] - m.file || place[2] - m.pos;
}

/**
 * Whether each share that joined requests on the strength of the targets it had learned had learned all `count`, and
 * one reader too: every target was first seen before the first such request.
 */
function learnedAll(shares: readonly SplitReadResult[], count: number): boolean {
  const first = new Map<string, Place>();
  for (const r of shares) earliest(first, r.firstSeen);
  return shares.every((r) => r.learned === null || (r.learned.fewest === count && [...first.values()].every((p) => comparePlaces(p, (r.learned as { first: Place }).first) < 0)));
}

/** Keeps in `into` the earliest place of each key. */
function earliest(into: Map<string, Place>, from: Record<string, Place>): void {
  for (const [key, place] of Object.entries(from)) {
    const seen = into.get(key);
    if (seen === undefined || comparePlaces(place, seen) < 0) into.set(key, place);
  }
}

/** The order key of an orphan: time-window ones by when the window passed them, end-of-input ones after. */
function orphanKey(closedBy: ShadowLogEntry['closedBy'], openedAt: number, open: Place): Orphan['key'] {
  return closedBy === 'end_of_input' ? [1, 0, ...open] : [0, openedAt, ...open];
}

function compareKeys(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return (a[i] as number) - (b[i] as number);
  return 0;
}

/** Counts an entry into `stats` as one reader does when it yields it. */
function count(stats: ReadStats, entry: ShadowLogEntry, missingComparison: boolean): void {
  stats.entries++;
  stats.closedBy[entry.closedBy]++;
  if (entry.orphan !== null) stats.orphans[entry.orphan]++;
  if (missingComparison) stats.missingComparisons++;
}

function plainEntry(e: KeptEntry, closedBy: ShadowLogEntry['closedBy']): ShadowLogEntry {
  return { requestId: e.requestId, production: e.production, shadows: e.shadows, comparisons: e.comparisons, skipped: e.skipped, closedBy, orphan: e.orphan };
}

/** The record of `entry` read first (its records are all in `places`). */
function firstRead(entry: ShadowLogEntry, places: Map<RequestRecord, PlacedRecord>): PlacedRecord {
  let first: PlacedRecord | undefined;
  const consider = (record: RequestRecord | null): void => {
    const m = record === null ? undefined : places.get(record);
    if (m !== undefined && (first === undefined || compareMarks(m, first) < 0)) first = m;
  };
  consider(entry.production);
  consider(entry.skipped);
  for (const r of entry.shadows) consider(r);
  for (const r of entry.comparisons) consider(r);
  return first as PlacedRecord;
}

/** The entries the shares kept of one request; `several`: from more than one share. */
interface PendingGroup {
  share: number;
  several: boolean;
  entries: KeptEntry[];
  repeats: PlacedRecord[];
}

const NO_REPEATS: PlacedRecord[] = [];

/** The entries the shares kept, by requestId, with the share each came from. */
function pendingById(shares: readonly SplitReadResult[]): Map<string, PendingGroup> {
  const byId = new Map<string, PendingGroup>();
  shares.forEach((r, i) => {
    for (const e of r.pending) {
      const g = byId.get(e.requestId);
      if (g === undefined) byId.set(e.requestId, { share: i, several: false, entries: [e], repeats: NO_REPEATS });
      else {
        if (g.share !== i) g.several = true;
        g.entries.push(e);
      }
    }
  });
  shares.forEach((r, i) => {
    for (const m of r.repeats) {
      const id = m.record.requestId;
      let g = byId.get(id);
      if (g === undefined) byId.set(id, (g = { share: i, several: false, entries: [], repeats: [] }));
      // A group with repeats and no entry has no share of its own: as before, it is joined again.
      else if (g.repeats === NO_REPEATS) g.repeats = [];
      g.repeats.push(m);
    }
  });
  return byId;
}

/**
 * The first watermark past `from` that a share other than `except` read before `to` (so one reader of every file read
 * it before the record at `to`); `null` when none did; `undefined` when one read exactly `to`, where which file comes
 * first decides.
 */
function readBetween(shares: readonly SplitReadResult[], except: number, from: number, to: number): number | null | undefined {
  let found: number | null = null;
  for (let i = 0; i < shares.length; i++) {
    if (i === except) continue;
    const w = (shares[i] as SplitReadResult).watermarks;
    let lo = 0;
    let hi = w.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((w[mid] as number) > from) hi = mid;
      else lo = mid + 1;
    }
    const next = w[lo];
    if (next === undefined || next > to) continue;
    if (next === to) return undefined;
    if (found === null || next < found) found = next;
  }
  return found;
}

class SplitMerge {
  readonly #o: SplitJoinOptions;
  readonly #shares: readonly SplitReadResult[];
  readonly #stats = emptyReadStats();
  readonly #orphans: Orphan[] = [];
  readonly #entries: ShadowLogEntry[] = [];
  readonly #maxKey: number;
  readonly #firstComparison = new Map<string, Place>();
  readonly #firstSeen = new Map<string, Place>();
  readonly #fileOfShare = new Map<number, number>();
  /** The latest of the targets' first places: every target was known to one reader from just after it. */
  #allSeenAt: Place | undefined;

  constructor(o: SplitJoinOptions, shares: readonly SplitReadResult[]) {
    this.#o = o;
    this.#shares = shares;
    this.#maxKey = Math.max(...shares.map((r) => r.maxKey));
    shares.forEach((r, i) => {
      for (const file of r.fileIndexes) this.#fileOfShare.set(file, i);
      earliest(this.#firstComparison, r.firstComparison);
      earliest(this.#firstSeen, r.firstSeen);
    });
    for (const place of this.#firstSeen.values()) if (this.#allSeenAt === undefined || comparePlaces(place, this.#allSeenAt) > 0) this.#allSeenAt = place;
  }

  /** The merged entries and figures, or why the shares cannot give one reader's result. */
  run(): { entries: ShadowLogEntry[]; stats: ReadStats } | string {
    const why = disagreement(this.#shares, this.#o);
    if (why !== null) return why;
    // Checked: the hashes of every request the shares joined alone are not needed any more.
    for (const r of this.#shares) r.accepted = new Float64Array(0);
    const replay: PlacedRecord[] = [];
    for (const [, group] of pendingById(this.#shares)) {
      if (!group.several && group.entries.length > 0 && group.entries.every((e) => e.plain && e.crossings === 0 && this.#knewTargets(e))) {
        this.#accept(group.entries, group.repeats);
      } else {
        for (const e of group.entries) for (const m of e.marks) replay.push(m);
        for (const m of group.repeats) replay.push(m);
      }
    }
    const replayed = replay.length === 0 ? null : this.#replay(replay);
    if (replayed !== null) return replayed;
    return { entries: this.#entries, stats: this.#readStats() };
  }

  /** Whether an entry that relied on the targets its share had learned was read when every target was known. */
  #knewTargets(e: KeptEntry): boolean {
    if (e.learned < 0) return true;
    return e.learned === this.#firstSeen.size && (this.#allSeenAt === undefined || comparePlaceToMark(this.#allSeenAt, e.marks[0] as PlacedRecord) < 0);
  }

  /** Entries of a request only one share read, clear of what other files could change: as that share joined them. */
  #accept(entries: readonly KeptEntry[], repeats: readonly PlacedRecord[]): void {
    for (const e of entries) {
      // The share's input ended with the entry open; one reader's window passes it if another file reads on.
      const closedBy = e.closedBy === 'end_of_input' && e.openedAt + this.#o.windowMs < this.#maxKey ? 'time_window' : e.closedBy;
      const entry = plainEntry(e, closedBy);
      count(this.#stats, entry, e.missingComparison);
      this.#stats.duplicates += e.duplicates;
      if (entry.orphan !== null) this.#orphans.push({ example: { requestId: e.requestId, kind: entry.orphan }, key: orphanKey(closedBy, e.openedAt, placeOf(e.marks[0] as PlacedRecord)) });
      this.#entries.push(entry);
    }
    this.#stats.duplicates += repeats.length;
  }

  /**
   * Joins the records of requests that crossed shares again, in one reader's order and at its watermark. Says why not
   * when a record sits where the shares cannot tell whether that reader's window had passed its request.
   */
  #replay(marks: PlacedRecord[]): string | null {
    marks.sort(compareMarks);
    const places = new Map<RequestRecord, PlacedRecord>();
    for (const m of marks) places.set(m.record, m);
    const stats = emptyReadStats();
    // Every compared target is taken as comparing from the start (`#take` checks one reader waited for its comparisons
    // too); targets are learned where one reader first saw them.
    const joiner = new Joiner({ ...this.#o, maxOpenEntries: Infinity, compared: [...this.#firstComparison.keys()] }, stats);
    const learned = [...this.#firstSeen].sort((a, b) => comparePlaces(a[1], b[1]));
    let nextTarget = 0;
    const closedAt = new Map<string, number>();
    const out: ShadowLogEntry[] = [];
    const w = this.#o.windowMs;
    for (const m of marks) {
      const id = m.record.requestId;
      for (; nextTarget < learned.length && comparePlaceToMark((learned[nextTarget] as [string, Place])[1], m) <= 0; nextTarget++) {
        joiner.tick(joiner.watermark, 'shadow', (learned[nextTarget] as [string, Place])[0], false, out);
      }
      // One reader's watermark before this record is at least its share's.
      if (m.prevW > joiner.watermark) joiner.tick(m.prevW, 'summary', undefined, false, out);
      const opened = joiner.openedAt(id);
      if (opened !== undefined && opened + w >= joiner.watermark && opened + w < m.pm) {
        // Another share may have read past the window's end first.
        const between = readBetween(this.#shares, this.#fileOfShare.get(m.file) ?? -1, opened + w, m.pm);
        if (between === undefined) return 'the window may have passed a request between two of its records in another share';
        if (between !== null) joiner.tick(between, 'summary', undefined, false, out);
      }
      // A request yielded here by the window is remembered from a moment the shares know only roughly.
      const closed = closedAt.get(id);
      if (closed !== undefined && joiner.openedAt(id) === undefined && m.pm >= closed + (REMEMBER_WINDOWS - 1) * w) return 'a request came back when it may have been forgotten';
      joiner.add(m.record, m.pm, out);
      for (const e of out) if (!closedAt.has(e.requestId)) closedAt.set(e.requestId, joiner.watermark);
      const why = this.#take(out, places);
      if (why !== null) return why;
    }
    joiner.tick(this.#maxKey, 'summary', undefined, false, out);
    joiner.flush(out);
    const why = this.#take(out, places);
    if (why !== null) return why;
    const into = this.#stats;
    for (const key of ['entries', 'duplicates', 'missingComparisons'] as const) into[key] += stats[key];
    for (const key of Object.keys(into.closedBy) as (keyof ReadStats['closedBy'])[]) into.closedBy[key] += stats.closedBy[key];
    for (const key of Object.keys(into.orphans) as (keyof ReadStats['orphans'])[]) into.orphans[key] += stats.orphans[key];
    return null;
  }

  /** Keeps joined-again entries; says why not when one's completeness hung on what only some files teach. */
  #take(out: ShadowLogEntry[], places: Map<RequestRecord, PlacedRecord>): string | null {
    for (const entry of out) {
      const open = placeOf(firstRead(entry, places));
      if (this.#o.expectComparisons && entry.shadows.some((s) => s.error === undefined && !this.#awaited(s.target, open))) {
        return 'a request crossing shares came before its target was known to log comparisons';
      }
      if (entry.orphan !== null) this.#orphans.push({ example: { requestId: entry.requestId, kind: entry.orphan }, key: orphanKey(entry.closedBy, open[0], open) });
      this.#entries.push(entry);
    }
    out.length = 0;
    return null;
  }

  /**
   * Whether one reader waited for the comparisons of `target`'s answers from `place` on: it had compared one before,
   * or has too few answers without one (in all shares together) to give up waiting, and sees one later.
   */
  #awaited(target: string, place: Place): boolean {
    const first = this.#firstComparison.get(target);
    if (first === undefined) return false;
    if (comparePlaces(first, place) < 0) return true;
    return this.#shares.reduce((n, r) => n + (r.answeredUncompared[target] ?? 0), 0) < COMPARISON_PROBE;
  }

  /** Every share's reading figures, and those of the entries merged here, as one reader's. */
  #readStats(): ReadStats {
    const stats = this.#stats;
    const shares = this.#shares;
    const first = shares[0];
    stats.unmatchedPatterns = first?.stats.unmatchedPatterns ?? [];
    stats.files = new Array(first?.fileCount ?? 0);
    const bad: { line: ReadStats['badLines'][number]; order: [number, number, number, number] }[] = [];
    for (const r of shares) {
      r.stats.files.forEach((f, i) => (stats.files[r.fileIndexes[i] as number] = f));
      for (const key of ['lines', 'records', 'unparseable', 'unrecognised', 'truncated', 'duplicates', 'entries', 'missingComparisons', 'peakOpenEntries'] as const) stats[key] += r.stats[key];
      for (const key of Object.keys(stats.closedBy) as (keyof ReadStats['closedBy'])[]) stats.closedBy[key] += r.stats.closedBy[key];
      for (const key of Object.keys(stats.orphans) as (keyof ReadStats['orphans'])[]) stats.orphans[key] += r.stats.orphans[key];
      r.stats.badLines.forEach((line, i) => bad.push({ line, order: r.badLineOrder[i] ?? [Infinity, 0, 0, 0] }));
    }
    stats.badLines = bad.sort((a, b) => compareKeys(a.order, b.order)).slice(0, MAX_EXAMPLES).map((b) => b.line);
    stats.orphanExamples = this.#orphans.sort((a, b) => compareKeys(a.key, b.key)).slice(0, MAX_EXAMPLES).map((o) => o.example);
    return stats;
  }
}

/**
 * The report of a split read, or why the shares cannot give one reader's (then the logs are read another way).
 * `builder` has merged every share's summary already (each as it came, so the main thread holds one at a time).
 */
export function reportOfSplit(builder: ReportBuilder, join: SplitJoinOptions, shares: readonly SplitReadResult[]): Report | string {
  const merged = new SplitMerge(join, shares).run();
  if (typeof merged === 'string') return merged;
  for (const entry of merged.entries) builder.addEntry(entry);
  const aggregates = shares.flatMap((s) => s.aggregates).sort((a, b) => comparePlaces(a.place, b.place));
  for (const { record } of aggregates) builder.addRecord(record);
  return builder.build(merged.stats);
}
