/**
 * The entries a split share keeps (read/split-read.ts) on their way from its report thread to the main thread: JSON
 * with each record once. A kept entry names its records by their index among its marks (the records it was joined
 * from, in the order read), and a mark carries only the record and its place, which is all the main thread reads
 * (report/split-merge.ts). Sent as the objects themselves, every record went three times (in the entry, in its mark,
 * and in the mark of the first crossing), and the main thread spent a quarter of a second parsing the last share's.
 */
import type { KeptEntry, PlacedRecord, SplitReadResult } from '../read/split-read.js';
import type { Mark, RequestRecord, SplitEntry } from '../read/join.js';

/** A record of a kept entry: its index among the entry's marks, or (never seen, but exact either way) the record. */
type RecordRef = number | RequestRecord;

interface WireEntry extends Omit<KeptEntry, 'production' | 'shadows' | 'comparisons' | 'skipped'> {
  production: RecordRef | null;
  shadows: RecordRef[];
  comparisons: RecordRef[];
  skipped: RecordRef | null;
}

const placed = (m: PlacedRecord): PlacedRecord => ({ record: m.record, pm: m.pm, file: m.file, pos: m.pos, prevW: m.prevW });

function refOf(record: RequestRecord, marks: readonly Mark[]): RecordRef {
  for (let i = 0; i < marks.length; i++) if ((marks[i] as Mark).record === record) return i;
  return record;
}

function wireEntry(e: SplitEntry): WireEntry {
  const marks = e.marks;
  return {
    requestId: e.requestId,
    production: e.production === null ? null : refOf(e.production, marks),
    shadows: e.shadows.map((r) => refOf(r, marks)),
    comparisons: e.comparisons.map((r) => refOf(r, marks)),
    skipped: e.skipped === null ? null : refOf(e.skipped, marks),
    closedBy: e.closedBy,
    orphan: e.orphan,
    openedAt: e.openedAt,
    marks: marks.map(placed),
    plain: e.plain,
    learned: e.learned,
    crossings: e.crossings,
    duplicates: e.duplicates,
    missingComparison: e.missingComparison,
  };
}

/** A batch of kept entries and repeats as JSON. */
export function packPending(entries: readonly SplitEntry[], repeats: readonly Mark[]): string {
  return JSON.stringify({ entries: entries.map(wireEntry), repeats: repeats.map(placed) });
}

/** The batch `packPending` packed; each entry's records are its marks' own objects again, as in the thread. */
export function unpackPending(json: string): { entries: KeptEntry[]; repeats: PlacedRecord[] } {
  const batch = JSON.parse(json) as { entries: WireEntry[]; repeats: PlacedRecord[] };
  for (const wire of batch.entries) {
    const marks = wire.marks;
    const record = (ref: RecordRef): RequestRecord => (typeof ref === 'number' ? (marks[ref] as PlacedRecord).record : ref);
    const e = wire as unknown as KeptEntry;
    e.production = wire.production === null ? null : (record(wire.production) as KeptEntry['production']);
    e.shadows = wire.shadows.map(record) as KeptEntry['shadows'];
    e.comparisons = wire.comparisons.map(record) as KeptEntry['comparisons'];
    e.skipped = wire.skipped === null ? null : (record(wire.skipped) as KeptEntry['skipped']);
  }
  return batch as unknown as { entries: KeptEntry[]; repeats: PlacedRecord[] };
}

/** A share's kept entries, gathered batch by batch as they come and handed back into its result when it ends. */
export class KeptEntries {
  #entries: KeptEntry[] = [];
  #repeats: PlacedRecord[] = [];

  add(json: string): void {
    const batch = unpackPending(json);
    for (const e of batch.entries) this.#entries.push(e);
    for (const r of batch.repeats) this.#repeats.push(r);
  }

  /** Puts the entries gathered before those `result` still holds, in the order the share kept them. */
  into(result: SplitReadResult): void {
    result.pending = this.#entries.concat(result.pending);
    result.repeats = this.#repeats.concat(result.repeats);
    this.#entries = [];
    this.#repeats = [];
  }
}
