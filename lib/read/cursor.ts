/**
 * Walks one log's records, counting bad lines, and gives each record a merge time that one wrong clock cannot derail.
 *
 * Files are merged by time, so a single record stamped in the future (a bad clock, a hand-edited line) would otherwise
 * stall its file behind every other file, and move the join's watermark so far that every later request is cut apart.
 * A record more than a window away from its file's own recent time is trusted only when the next records agree with it
 * (a gap in traffic, or a clock stepped back); otherwise it keeps its place in the file's order.
 */
import type { LineSource } from './line-source.js';
import { parseLine, type LineProblem, type ParsedRecord } from './parse-record.js';
import type { BadLineExample, ReadStats } from './types.js';

const MAX_BAD_LINE_EXAMPLES = 5;
/** Records read ahead to judge a jump in time: two agreeing records make a new regime, one alone is an outlier. */
const LOOKAHEAD = 2;

export type KeyedRecord = ParsedRecord;

/** Returned by `next()` when the source's buffer is empty and `fill()` must be awaited. */
export const NEEDS_FILL = Symbol('needs fill');

/** Turns a line into a record, or says why not: `parseLine` unless the reader reads differently (the report). */
export type LineParser = (line: string) => ParsedRecord | LineProblem;

/** The same, for a line given as bytes (`end` excluded), for a reader that decodes only some lines (a thread's share). */
export type BytesParser = (bytes: Buffer, start: number, end: number) => ParsedRecord | LineProblem;

/** Characters kept of a bad line as its example. */
const EXAMPLE_LENGTH = 120;

/** Whether two times are within a window of each other (`b` absent: no). */
function near(a: number, b: number | undefined, windowMs: number): boolean {
  return b !== undefined && Math.abs(a - b) <= windowMs;
}

export class RecordCursor {
  readonly source: LineSource;
  /** Order of the file among the inputs; breaks ties between files. */
  readonly index: number;
  readonly #stats: ReadStats;
  readonly #windowMs: number;
  readonly #onLine: () => void;
  readonly #parse: LineParser | BytesParser;
  readonly #bytes: boolean;
  readonly #ahead: ParsedRecord[] = [];
  #ended = false;
  #clock = NaN;
  /** Largest merge key so far (see `ParsedRecord.pm`). */
  #pm = -Infinity;
  /** The record last handed out: bad lines read after it are ordered after it (see `badLineOrder`). */
  #lastPm = -Infinity;
  #lastPos = -1;
  /**
   * When set, gets [pm, file, line, bad line] for each bad line kept as an example: where one reader of every file
   * would have read it (right after the record of this file handed out before it), to order examples across readers.
   */
  badLineOrder: [number, number, number, number][] | undefined;

  constructor(source: LineSource, index: number, stats: ReadStats, windowMs: number, onLine: () => void, parse: { text: LineParser } | { bytes: BytesParser } = { text: parseLine }) {
    this.source = source;
    this.index = index;
    this.#stats = stats;
    this.#windowMs = windowMs;
    this.#onLine = onLine;
    this.#bytes = 'bytes' in parse;
    this.#parse = 'bytes' in parse ? parse.bytes : parse.text;
    if (this.#bytes) source.useBytes();
  }

  /** The next record; `undefined` at the end; `NEEDS_FILL` when `fill()` must be awaited first. */
  next(): KeyedRecord | undefined | typeof NEEDS_FILL {
    while (!this.#ended && this.#ahead.length <= LOOKAHEAD) {
      const parsed = this.#read();
      if (parsed === NEEDS_FILL) return NEEDS_FILL;
      if (parsed === undefined) this.#ended = true;
      else this.#ahead.push(parsed);
    }
    const parsed = this.#ahead.shift();
    if (parsed === undefined) return undefined;
    parsed.key = this.#keyOf(parsed.time, this.#ahead[0]?.time, this.#ahead[1]?.time);
    this.#clock = parsed.key;
    if (parsed.key > this.#pm) this.#pm = parsed.key;
    parsed.pm = this.#pm;
    this.#lastPm = this.#pm;
    this.#lastPos = parsed.pos;
    return parsed;
  }

  async fill(): Promise<void> {
    await this.source.fill();
  }

  #keyOf(time: number, next: number | undefined, afterNext: number | undefined): number {
    const windowMs = this.#windowMs;
    if (Number.isNaN(this.#clock)) {
      // The first record: an outlier if the two after it agree with each other and not with it.
      return !near(time, next, windowMs) && next !== undefined && near(next, afterNext, windowMs) ? next : time;
    }
    // Near its file's time, or the file's last record (nothing after it to derail), or a jump the records after it agree
    // with (a clock stepped back, a gap in traffic).
    if (near(time, this.#clock, windowMs) || next === undefined) return time;
    if (near(time, next, windowMs) && (afterNext === undefined || near(time, afterNext, windowMs))) return time;
    return this.#clock;
  }

  /** Parses the next line into a record, counting the lines that are not. */
  #read(): ParsedRecord | undefined | typeof NEEDS_FILL {
    const source = this.source;
    const fileStats = source.stats;
    const stats = this.#stats;
    for (;;) {
      const line = this.#bytes ? (source.nextBytes() ? '' : undefined) : source.nextLine();
      if (line === undefined) return source.done ? undefined : NEEDS_FILL;
      const parsed = source.lastLineTooLong
        ? 'unparseable'
        : this.#bytes
          ? (this.#parse as BytesParser)(source.bytes, source.start, source.end)
          : (this.#parse as LineParser)(line);
      if (parsed === 'blank') continue;
      if (parsed === 'foreign' || (typeof parsed !== 'string' && !parsed.owned)) {
        // Another thread counts it.
        if (parsed !== 'foreign') return parsed;
        continue;
      }
      stats.lines++;
      fileStats.lines++;
      if (typeof parsed !== 'string') {
        parsed.pos = source.lineNumber;
        parsed.file = this.index;
        stats.records++;
        fileStats.records++;
        this.#onLine();
        return parsed;
      }
      this.#onLine();
      let problem: BadLineExample['problem'] = parsed;
      if (parsed === 'unrecognised') {
        stats.unrecognised++;
        fileStats.unrecognised++;
      } else if (source.lastLineUnterminated && !source.lastLineTooLong) {
        // A cut last line is what a crash or a file still being written leaves: counted as truncation, not garbage.
        problem = 'truncated';
        fileStats.truncated = true;
      } else {
        if (source.lastLineTooLong) problem = 'too_long';
        stats.unparseable++;
        fileStats.unparseable++;
      }
      if (stats.badLines.length < MAX_BAD_LINE_EXAMPLES) {
        const text = this.#bytes ? source.bytes.toString('utf8', source.start, Math.min(source.end, source.start + 4 * EXAMPLE_LENGTH)) : line;
        stats.badLines.push({ file: fileStats.path, line: source.lineNumber, problem, text: text.slice(0, EXAMPLE_LENGTH) });
        this.badLineOrder?.push([this.#lastPm, this.index, this.#lastPos, source.lineNumber]);
      }
    }
  }
}
