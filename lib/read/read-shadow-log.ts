/**
 * `readShadowLog`: streams any number of JSON-lines logs (plain or gzip), merges them by timestamp, and yields the
 * records of each request joined into one entry.
 */
import { Joiner } from './join.js';
import { LineSource } from './line-source.js';
import { parseLine } from './parse-record.js';
import { resolveFiles } from './resolve-files.js';
import type { ShadowLogRecord } from '../types.js';
import type { ReadShadowLogOptions, ReadStats, ShadowLogEntry, ShadowLogReader } from './types.js';

const MAX_BAD_LINE_EXAMPLES = 5;

interface Head {
  source: LineSource;
  index: number;
  record: ShadowLogRecord;
  time: number;
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
 * @param pathsOrGlobs Files or glob patterns (`logs/shadow-*.log*`).
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
        sources.push(await LineSource.open(file.absolutePath, file.displayPath, maxLineLength));
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

    /** Moves `source` to its next record; `undefined` at its end. */
    const advance = async (source: LineSource, index: number): Promise<Head | undefined> => {
      const fileStats = source.stats;
      for (;;) {
        let line = source.nextLine();
        while (line === undefined) {
          if (source.done) return undefined;
          await source.fill();
          line = source.nextLine();
        }
        const parsed = source.lastLineTooLong ? ({ kind: 'unparseable' } as const) : parseLine(line);
        if (parsed.kind === 'blank') continue;
        stats.lines++;
        fileStats.lines++;
        if (parsed.kind === 'record') {
          stats.records++;
          fileStats.records++;
        }
        if (stats.lines >= nextProgress) {
          nextProgress += progressEvery;
          report();
        }
        if (parsed.kind === 'record') {
          return { source, index, record: parsed.record, time: parsed.time };
        }
        let problem: 'unparseable' | 'unrecognised' | 'truncated' | 'too_long' = parsed.kind;
        if (parsed.kind === 'unrecognised') {
          stats.unrecognised++;
          fileStats.unrecognised++;
        } else if (source.lastLineUnterminated && !source.lastLineTooLong) {
          // A cut last line is what a crash or a file still being written leaves: counted as truncation, not garbage.
          problem = 'truncated';
          if (!fileStats.truncated) {
            fileStats.truncated = true;
          }
        } else {
          if (source.lastLineTooLong) problem = 'too_long';
          stats.unparseable++;
          fileStats.unparseable++;
        }
        if (stats.badLines.length < MAX_BAD_LINE_EXAMPLES) {
          stats.badLines.push({ file: fileStats.path, line: source.lineNumber, problem, text: line.slice(0, 120) });
        }
      }
    };

    const heap = new HeadHeap();
    try {
      for (let i = 0; i < sources.length; i++) {
        const head = await advance(sources[i] as LineSource, i);
        if (head !== undefined) heap.push(head);
      }
      for (let head = heap.pop(); head !== undefined; head = heap.pop()) {
        const { record, time } = head;
        if (record.type === 'summary' || record.type === 'breaker') {
          onRecord?.(record);
        } else {
          joiner.add(record, time, out);
          if (out.length > 0) {
            for (const entry of out) yield entry;
            out.length = 0;
          }
        }
        const next = await advance(head.source, head.index);
        if (next !== undefined) heap.push(next);
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

/** Min-heap of file heads by record time; ties go to the file given first, keeping the merge deterministic. */
class HeadHeap {
  readonly #items: Head[] = [];

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
    return top;
  }
}

function before(a: Head, b: Head): boolean {
  return a.time < b.time || (a.time === b.time && a.index < b.index);
}
