/**
 * Turns one log line into a record, or says why it is not one. Each line is parsed once, by `JSON.parse`, and the
 * record is the parsed object itself. Unknown fields (winston's `level`, `message`) are ignored.
 */
import type { ShadowLogRecord } from '../types.js';

/** Why a line is not a record. */
export type LineProblem =
  | 'blank'
  /** Not JSON at all. */
  | 'unparseable'
  /** JSON, but not a record this reader knows. */
  | 'unrecognised';

const CARRIAGE_RETURN = 13;

/** A record with its log time. */
export interface ParsedRecord {
  record: ShadowLogRecord;
  /** `Date.parse(record.timestamp)`. */
  time: number;
  /** The time it is merged and joined at: `time`, or its file's time when `time` is an outlier (set by the cursor). */
  key: number;
}

/** The record on a line, or why there is none. */
export function parseLine(line: string): ParsedRecord | LineProblem {
  let text = line;
  if (text.length > 0 && text.charCodeAt(text.length - 1) === CARRIAGE_RETURN) text = text.slice(0, -1);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return text.trim().length === 0 ? 'blank' : 'unparseable';
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'unrecognised';
  const record = value as Record<string, unknown>;
  if (typeof record.timestamp !== 'string') return 'unrecognised';
  const time = Date.parse(record.timestamp);
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
    case 'summary':
    case 'breaker':
      break;
    default:
      return 'unrecognised';
  }
  return { record: record as unknown as ShadowLogRecord, time, key: time };
}

function isId(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0;
}
