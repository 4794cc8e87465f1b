/**
 * Turns one log line into a record, or says why it is not one. Each line is parsed once, by `JSON.parse`, and the
 * record is the parsed object itself. Unknown fields (winston's `level`, `message`) are ignored.
 */
import type { ShadowLogRecord } from '../types.js';

/** Why a line is not a record (or, `foreign`, not one this reader counts: another thread reads it). */
export type LineProblem =
  | 'blank'
  | 'foreign'
  /** Not JSON at all. */
  | 'unparseable'
  /** JSON, but not a record this reader knows. */
  | 'unrecognised';

const CARRIAGE_RETURN = 13;
/** U+FEFF, which a UTF-8 byte-order mark decodes to: some editors and Windows tools put one at the start of a file. */
const BYTE_ORDER_MARK = 0xfeff;

/** A record with its log time. */
export interface ParsedRecord {
  record: ShadowLogRecord;
  /** `Date.parse(record.timestamp)`. */
  time: number;
  /** The time it is merged and joined at: `time`, or its file's time when `time` is an outlier (set by the cursor). */
  key: number;
  /**
   * `false` for a record another thread joins (its request is that thread's): only its type, requestId, time, target
   * and, for a shadow, whether it was answered are known here, and it is not counted.
   */
  owned: boolean;
  /**
   * Set by the cursor: the largest merge key of its file up to this record. Files are merged by key, so a record's
   * place among all files' records is (pm, file, line) and the join's watermark when it is read is its pm.
   */
  pm: number;
  /** Set by the cursor: the record's 1-based line number in its file. */
  pos: number;
  /** Set by the cursor: the order of its file among the inputs. */
  file: number;
  /** Set by a split read: its joiner's watermark before the record. */
  prevW: number;
}

/** The record on a line, or why there is none. */
export function parseLine(line: string): ParsedRecord | LineProblem {
  let text = line;
  if (text.length > 0 && text.charCodeAt(text.length - 1) === CARRIAGE_RETURN) text = text.slice(0, -1);
  // JSON.parse refuses a byte-order mark, which would orphan a file's first record; files joined with `cat` carry one
  // at the start of a line further on, so any line may start with one.
  if (text.charCodeAt(0) === BYTE_ORDER_MARK) text = text.slice(1);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return text.trim().length === 0 ? 'blank' : 'unparseable';
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'unrecognised';
  const record = value as Record<string, unknown>;
  if (typeof record.timestamp !== 'string') return 'unrecognised';
  const time = parseTimestamp(record.timestamp);
  if (Number.isNaN(time)) return 'unrecognised';
  switch (record.type) {
    case 'production':
    case 'skipped':
      if (!isId(record.requestId)) return 'unrecognised';
      break;
    case 'shadow':
    case 'comparison':
      if (!isId(record.requestId) || typeof record.target !== 'string') return 'unrecognised';
      break;
    case 'judgement':
      if (!isId(record.requestId) || typeof record.target !== 'string') return 'unrecognised';
      break;
    case 'summary':
    case 'breaker':
    case 'judgement_summary':
      break;
    default:
      return 'unrecognised';
  }
  return { record: record as unknown as ShadowLogRecord, time, key: time, owned: true, pm: time, pos: 0, file: 0, prevW: 0 };
}

/** `Date.parse`, with a fast path for the one shape the logger writes (`2024-05-01T10:00:00.000Z`). */
export function parseTimestamp(text: string): number {
  if (text.length === 24) {
    const time = loggerTimestamp(text, 0);
    if (!Number.isNaN(time)) return time;
  }
  return Date.parse(text);
}

/** The minute last worked out: lines near each other in a log share it, so most times cost only their seconds. */
let cachedMinute = '';
let cachedMinuteMs = NaN;

/**
 * The time written at `start` of `text` in the logger's shape (`2024-05-01T10:00:00.000Z`, 24 characters), or NaN
 * when it is not in that shape or is a date the fast path leaves to `Date.parse` (days past the 28th, years before 100).
 */
function loggerTimestamp(text: string, start: number): number {
  if (text.charCodeAt(start + 23) !== 90 /* Z */ || text.charCodeAt(start + 16) !== 58 /* : */ || text.charCodeAt(start + 19) !== 46 /* . */) return NaN;
  const second = digits(text, start + 17, 2);
  const ms = digits(text, start + 20, 3);
  if (second < 0 || second > 59 || ms < 0) return NaN;
  if (cachedMinute === '' || !text.startsWith(cachedMinute, start)) {
    const minute = minuteOf(text, start);
    if (Number.isNaN(minute)) return NaN;
    cachedMinute = text.slice(start, start + 16);
    cachedMinuteMs = minute;
  }
  return cachedMinuteMs + second * 1000 + ms;
}

/** The minute last worked out from bytes, as bytes. */
const cachedMinuteBytes = Buffer.alloc(16);
let cachedMinuteBytesMs = NaN;

/** {@link loggerTimestamp} of the time written at `start` of `bytes` (ASCII). */
export function loggerTimestampBytes(bytes: Buffer, start: number): number {
  if (bytes[start + 23] !== 90 /* Z */ || bytes[start + 16] !== 58 /* : */ || bytes[start + 19] !== 46 /* . */) return NaN;
  const second = byteDigits(bytes, start + 17, 2);
  const ms = byteDigits(bytes, start + 20, 3);
  if (second < 0 || second > 59 || ms < 0) return NaN;
  let same = !Number.isNaN(cachedMinuteBytesMs);
  for (let i = 0; same && i < 16; i++) same = bytes[start + i] === cachedMinuteBytes[i];
  if (!same) {
    const minute = minuteOf(bytes.toString('latin1', start, start + 16), 0);
    if (Number.isNaN(minute)) return NaN;
    bytes.copy(cachedMinuteBytes, 0, start, start + 16);
    cachedMinuteBytesMs = minute;
  }
  return cachedMinuteBytesMs + second * 1000 + ms;
}

function byteDigits(bytes: Buffer, start: number, count: number): number {
  let value = 0;
  for (let i = start; i < start + count; i++) {
    const digit = (bytes[i] ?? 0) - 48;
    if (digit < 0 || digit > 9) return -1;
    value = value * 10 + digit;
  }
  return value;
}

/** `YYYY-MM-DDTHH:MM` at `start` in ms, or NaN outside the fast path. */
function minuteOf(text: string, start: number): number {
  const year = digits(text, start, 4);
  const month = digits(text, start + 5, 2);
  const day = digits(text, start + 8, 2);
  const hour = digits(text, start + 11, 2);
  const minute = digits(text, start + 14, 2);
  const separators = text.charCodeAt(start + 4) === 45 && text.charCodeAt(start + 7) === 45 && text.charCodeAt(start + 10) === 84 && text.charCodeAt(start + 13) === 58;
  // Days past the 28th are left to Date.parse, which knows the length of each month; so are years before 100, which
  // Date.UTC would take as 19xx.
  if (!separators || month < 1 || month > 12 || day < 1 || day > 28 || hour < 0 || hour > 23 || minute < 0 || minute > 59 || year < 100) return NaN;
  return Date.UTC(year, month - 1, day, hour, minute);
}

/** The number written with `count` decimal digits at `start`, or -1 when one is not a digit. */
function digits(text: string, start: number, count: number): number {
  let value = 0;
  for (let i = start; i < start + count; i++) {
    const digit = text.charCodeAt(i) - 48;
    if (digit < 0 || digit > 9) return -1;
    value = value * 10 + digit;
  }
  return value;
}

function isId(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0;
}
