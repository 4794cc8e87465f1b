/**
 * `readShadowLog`: streams any number of JSON-lines logs (plain or gzip), merges them by timestamp, and yields the
 * records of each request joined into one entry.
 */
import { RecordCursor, type BytesParser, type LineParser } from './cursor.js';
import { empty, Joiner } from './join.js';
import { LineSource } from './line-source.js';
import { TimeMerge } from './merge.js';
import { parseLine } from './parse-record.js';
import { resolveFiles, STDIN, type ResolvedFile } from './resolve-files.js';
import { answeredOf, shareParser, type ReadShare } from './share.js';
import { slimRecord, type BodyPaths } from './slim-record.js';
import type { ShadowLogRecord } from '../types.js';
import type { AggregateRecord, ReadShadowLogOptions, ReadStats, ShadowLogEntry, ShadowLogReader } from './types.js';

/** How the report reads: records cut to the fields it uses, and perhaps one thread's share of the requests. */
interface ReportReading {
  /** The paths of response bodies kept in the records (a label or score path reads them). */
  bodies: BodyPaths;
  share?: ReadShare;
  /** Takes each entry as it is joined, instead of the iterator (which then yields nothing): no promise per entry. */
  onEntry?: (entry: ShadowLogEntry) => void;
}

/** A reader for the report: also says where its orphan examples were yielded, to merge shares' examples in order. */
interface ReportReader extends ShadowLogReader {
  readonly orphanOrder: readonly [number, number][];
}

/** Whether a record belongs to no single request's entry (`onRecord` gets it). */
export function isAggregate(record: ShadowLogRecord): record is AggregateRecord {
  return record.type === 'summary' || record.type === 'breaker' || record.type === 'judgement' || record.type === 'judgement_summary';
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

export function positiveNumber(name: string, value: number | undefined, fallback: number): number {
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
  return openShadowLog(pathsOrGlobs, options, undefined);
}

/** The parser of a reading: whole records for `readShadowLog`, cut ones for the report, a thread's share of them. */
function parserOf(reading: ReportReading | undefined, joiner: Joiner): { text: LineParser } | { bytes: BytesParser } {
  if (reading === undefined) return { text: parseLine };
  if (reading.share !== undefined) return { bytes: shareParser(reading.share, joiner, reading.bodies) };
  return {
    text: (line) => {
      const parsed = parseLine(line);
      if (typeof parsed !== 'string') parsed.record = slimRecord(parsed.record, reading.bodies);
      return parsed;
    },
  };
}

/** Opens every file (standard input for `-`); closes those opened when one cannot be. */
export async function openSources(files: readonly ResolvedFile[], stdin: NodeJS.ReadableStream | undefined, maxLineLength: number): Promise<LineSource[]> {
  const sources: LineSource[] = [];
  try {
    for (const file of files) {
      sources.push(
        file.absolutePath === STDIN
          ? LineSource.fromStream(stdin ?? process.stdin, file.displayPath, maxLineLength)
          : await LineSource.open(file.absolutePath, file.displayPath, maxLineLength),
      );
    }
  } catch (err) {
    await Promise.all(sources.map((s) => s.close()));
    throw err;
  }
  return sources;
}

/** `report()` calls `onProgress` now; `onLine()` calls it every `progressEvery` lines. */
function progressOf(sources: readonly LineSource[], stats: ReadStats, progressEvery: number, onProgress: ReadShadowLogOptions['onProgress']): { report: () => void; onLine: () => void } {
  const bytesTotal = stats.files.reduce((sum, f) => sum + f.bytes, 0);
  let nextProgress = progressEvery;
  const report = (): void => {
    onProgress?.({ bytesRead: sources.reduce((sum, s) => sum + s.bytesRead, 0), bytesTotal, lines: stats.lines, records: stats.records });
  };
  const onLine = (): void => {
    if (stats.lines >= nextProgress) {
      nextProgress += progressEvery;
      report();
    }
  };
  return { report, onLine };
}

/**
 * `readShadowLog`, or the report's reading of the same logs (`reading`). A share holds at most its part of
 * `maxOpenEntries` open, so all shares together hold what one reader would.
 */
export function openShadowLog(pathsOrGlobs: string | readonly string[], options: ReadShadowLogOptions, reading: ReportReading | undefined): ReportReader {
  const inputs = typeof pathsOrGlobs === 'string' ? [pathsOrGlobs] : [...pathsOrGlobs];
  const shares = reading?.share?.count ?? 1;
  const joinOptions = {
    windowMs: positiveNumber('windowMs', options.windowMs, 60_000),
    maxOpenEntries: Math.max(1, Math.floor(positiveNumber('maxOpenEntries', options.maxOpenEntries, 100_000) / shares)),
    expectComparisons: options.expectComparisons ?? true,
    targets: options.targets === undefined ? undefined : [...options.targets],
  };
  const progressEvery = positiveNumber('progressEvery', options.progressEvery, 20_000);
  const maxLineLength = positiveNumber('maxLineLength', options.maxLineLength, 16 * 1024 * 1024);
  const cwd = options.cwd ?? process.cwd();
  const { onRecord, onProgress } = options;
  const onEntry = reading?.onEntry;
  const stats = emptyReadStats();
  let started = false;
  let orphanOrder: readonly [number, number][] = [];

  async function* iterate(): AsyncGenerator<ShadowLogEntry, void, undefined> {
    const { files, unmatchedPatterns } = await resolveFiles(inputs, cwd);
    stats.unmatchedPatterns = unmatchedPatterns;
    const sources = await openSources(files, options.stdin, maxLineLength);
    stats.files = sources.map((s) => s.stats);
    const joiner = new Joiner(joinOptions, stats);
    orphanOrder = joiner.orphanOrder;
    const parse = parserOf(reading, joiner);
    const out: ShadowLogEntry[] = [];
    const { report, onLine } = progressOf(sources, stats, progressEvery, onProgress);
    const cursors = sources.map((source, index) => new RecordCursor(source, index, stats, joinOptions.windowMs, onLine, parse));

    try {
      const merge = await TimeMerge.start(cursors);
      for (let keyed = merge.peek(); keyed !== undefined; keyed = merge.peek()) {
        const { record, key } = keyed;
        if (isAggregate(record)) {
          if (keyed.owned) onRecord?.(record);
          // Every record moves the window (the newest record read), so a reader's watermark is its files' largest key.
          joiner.tick(key, record.type, undefined, false, out);
        } else if (keyed.owned) {
          joiner.add(record, key, out);
        } else {
          joiner.tick(key, record.type, (record as { target?: string }).target, answeredOf(record), out);
        }
        if (out.length > 0) {
          if (onEntry !== undefined) for (const entry of out) onEntry(entry);
          else for (const entry of out) yield entry;
          empty(out);
        }
        const more = merge.advance();
        if (more !== undefined) await more;
      }
      joiner.flush(out);
      if (onEntry !== undefined) for (const entry of out) onEntry(entry);
      else for (const entry of out) yield entry;
      empty(out);
    } finally {
      await Promise.all(sources.map((s) => s.close()));
      stats.truncated = stats.files.filter((f) => f.truncated).length;
      report();
    }
  }

  return {
    stats,
    get orphanOrder() {
      return orphanOrder;
    },
    [Symbol.asyncIterator]() {
      if (started) {
        throw new TypeError('readShadowLog: a reader can be iterated once; call readShadowLog() again to read the logs again.');
      }
      started = true;
      return iterate();
    },
  };
}

