/**
 * `readShadowLog`: streams any number of JSON-lines logs (plain or gzip), merges them by timestamp, and yields the
 * records of each request joined into one entry.
 */
import { NEEDS_FILL, RecordCursor, type KeyedRecord } from './cursor.js';
import { Joiner } from './join.js';
import { LineSource } from './line-source.js';
import { resolveFiles, STDIN } from './resolve-files.js';
import type { ReadShadowLogOptions, ReadStats, ShadowLogEntry, ShadowLogReader } from './types.js';

interface Head {
  cursor: RecordCursor;
  keyed: KeyedRecord;
}

/** A fresh, zeroed `ReadStats`. */
export function emptyReadStats(): ReadStats {
  return {
    files: [],
    unmatchedPatterns: [],
    lines: 0,
    records: 0,
    unparseable: 0,
    unrecognised: 0,
    truncated: 0,
    duplicates: 0,
    entries: 0,
    closedBy: { complete: 0, time_window: 0, count_window: 0, end_of_input: 0 },
    orphans: { no_shadow: 0, no_production: 0, late: 0 },
    missingComparisons: 0,
    peakOpenEntries: 0,
    badLines: [],
    orphanExamples: [],
  };
}

function positiveNumber(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !(value > 0)) {
    throw new TypeError(`readShadowLog: \`${name}\` must be a positive number, got ${JSON.stringify(value)}.`);
  }
  return value;
}

/**
 * Reads shadow logs and yields one {@link ShadowLogEntry} per request, joined by requestId across all files.
 *
 * Files are read side by side and merged by record timestamp, so the records of one request meet even when several app
 * instances wrote them to different files, and rotated files may be given in any order. Entries are yielded as soon as
 * they are complete, so they come out in completion order, not strictly in time order.
 *
 * Bad lines never stop the reading: they are counted in `reader.stats`, which is final once iteration has ended.
 * No file matching, or a file that cannot be opened, rejects the first `next()` with a {@link ShadowLogReadError}.
 *
 * A record whose timestamp is more than a window away from the rest of its file (a clock that jumped) keeps its place
 * in the file's order instead of its timestamp's, so it cannot stall the merge or cut later requests apart; a jump the
 * following records agree with (a gap in traffic, a clock stepped back) is followed.
 *
 * @param pathsOrGlobs Files, pipes (`/dev/stdin`, `<(zcat …)`), glob patterns (`logs/shadow-*.log*`), or `-` for
 * standard input (see `stdin`).
 * @example
 * ```ts
 * const reader = readShadowLog(['logs/*.log', 'logs/*.gz'], { windowMs: 30_000 });
 * for await (const entry of reader) handle(entry);
 * console.log(reader.stats.orphans);
 * ```
 */
export function readShadowLog(pathsOrGlobs: string | readonly string[], options: ReadShadowLogOptions = {}): ShadowLogReader {
  const inputs = typeof pathsOrGlobs === 'string' ? [pathsOrGlobs] : [...pathsOrGlobs];
  const joinOptions = {
    windowMs: positiveNumber('windowMs', options.windowMs, 60_000),
    maxOpenEntries: positiveNumber('maxOpenEntries', options.maxOpenEntries, 100_000),
    expectComparisons: options.expectComparisons ?? true,
    targets: options.targets === undefined ? undefined : [...options.targets],
  };
  const progressEvery = positiveNumber('progressEvery', options.progressEvery, 20_000);
  const maxLineLength = positiveNumber('maxLineLength', options.maxLineLength, 16 * 1024 * 1024);
  const cwd = options.cwd ?? process.cwd();
  const { onRecord, onProgress } = options;
  const stats = emptyReadStats();
  let started = false;

  async function* iterate(): AsyncGenerator<ShadowLogEntry, void, undefined> {
    const { files, unmatchedPatterns } = await resolveFiles(inputs, cwd);
    stats.unmatchedPatterns = unmatchedPatterns;
    const sources: LineSource[] = [];
    try {
      for (const file of files) {
        sources.push(
          file.absolutePath === STDIN
            ? LineSource.fromStream(options.stdin ?? process.stdin, file.displayPath, maxLineLength)
            : await LineSource.open(file.absolutePath, file.displayPath, maxLineLength),
        );
      }
    } catch (err) {
      await Promise.all(sources.map((s) => s.close()));
      throw err;
    }
    stats.files = sources.map((s) => s.stats);
    const bytesTotal = stats.files.reduce((sum, f) => sum + f.bytes, 0);
    const joiner = new Joiner(joinOptions, stats);
    const out: ShadowLogEntry[] = [];
    let nextProgress = progressEvery;
    const report = (): void => {
      onProgress?.({
        bytesRead: sources.reduce((sum, s) => sum + s.bytesRead, 0),
        bytesTotal,
        lines: stats.lines,
        records: stats.records,
      });
    };
    const onLine = (): void => {
      if (stats.lines >= nextProgress) {
        nextProgress += progressEvery;
        report();
      }
    };
    const cursors = sources.map((source, index) => new RecordCursor(source, index, stats, joinOptions.windowMs, onLine));

    const heap = new HeadHeap();
    try {
      for (const cursor of cursors) {
        const keyed = await nextRecord(cursor);
        if (keyed !== undefined) heap.push({ cursor, keyed });
      }
      for (let head = heap.peek(); head !== undefined; head = heap.peek()) {
        const { record, key } = head.keyed;
        if (record.type === 'summary' || record.type === 'breaker' || record.type === 'judgement' || record.type === 'judgement_summary') {
          onRecord?.(record);
        } else {
          joiner.add(record, key, out);
          if (out.length > 0) {
            for (const entry of out) yield entry;
            out.length = 0;
          }
        }
        let keyed = head.cursor.next();
        if (keyed === NEEDS_FILL) keyed = await nextRecord(head.cursor);
        if (keyed === undefined) heap.pop();
        else {
          // The same file's next record replaces it at the top: one sift instead of a pop and a push.
          head.keyed = keyed;
          heap.replaceTop(head);
        }
      }
      joiner.flush(out);
      for (const entry of out) yield entry;
      out.length = 0;
    } finally {
      await Promise.all(sources.map((s) => s.close()));
      stats.truncated = stats.files.filter((f) => f.truncated).length;
      report();
    }
  }

  return {
    stats,
    [Symbol.asyncIterator]() {
      if (started) {
        throw new TypeError('readShadowLog: a reader can be iterated once; call readShadowLog() again to read the logs again.');
      }
      started = true;
      return iterate();
    },
  };
}

/** The cursor's next record, reading more of its input as needed; `undefined` at its end. */
async function nextRecord(cursor: RecordCursor): Promise<KeyedRecord | undefined> {
  for (;;) {
    const keyed = cursor.next();
    if (keyed !== NEEDS_FILL) return keyed;
    await cursor.fill();
  }
}

/** Min-heap of file heads by merge time; ties go to the file given first, keeping the merge deterministic. */
class HeadHeap {
  readonly #items: Head[] = [];

  peek(): Head | undefined {
    return this.#items[0];
  }

  push(head: Head): void {
    const items = this.#items;
    items.push(head);
    let i = items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(items[i] as Head, items[parent] as Head)) break;
      [items[i], items[parent]] = [items[parent] as Head, items[i] as Head];
      i = parent;
    }
  }

  pop(): Head | undefined {
    const items = this.#items;
    const top = items[0];
    const last = items.pop();
    if (top === undefined || last === undefined || items.length === 0) return top;
    items[0] = last;
    this.#siftDown();
    return top;
  }

  /** Re-sorts after the top's key changed. */
  replaceTop(head: Head): void {
    this.#items[0] = head;
    this.#siftDown();
  }

  #siftDown(): void {
    const items = this.#items;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let smallest = i;
      if (left < items.length && before(items[left] as Head, items[smallest] as Head)) smallest = left;
      if (right < items.length && before(items[right] as Head, items[smallest] as Head)) smallest = right;
      if (smallest === i) break;
      [items[i], items[smallest]] = [items[smallest] as Head, items[i] as Head];
      i = smallest;
    }
  }
}

function before(a: Head, b: Head): boolean {
  return a.keyed.key < b.keyed.key || (a.keyed.key === b.keyed.key && a.cursor.index < b.cursor.index);
}
