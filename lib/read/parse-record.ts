/**
 * Turns one log line into a record, or says why it is not one. Unknown fields (winston's `level`, `message`) are ignored.
 */
import type { ShadowLogRecord } from '../types.js';

export type ParsedLine =
  | { kind: 'record'; record: ShadowLogRecord; time: number }
  | { kind: 'blank' }
  /** Not JSON at all. */
  | { kind: 'unparseable' }
  /** JSON, but not a record this reader knows. */
  | { kind: 'unrecognised' };

const BLANK: ParsedLine = { kind: 'blank' };
const UNPARSEABLE: ParsedLine = { kind: 'unparseable' };
const UNRECOGNISED: ParsedLine = { kind: 'unrecognised' };

export function parseLine(line: string): ParsedLine {
  let text = line;
  if (text.endsWith('\r')) text = text.slice(0, -1);
  if (text.length === 0 || text.trim().length === 0) return BLANK;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return UNPARSEABLE;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return UNRECOGNISED;
  const record = value as Record<string, unknown>;
  if (typeof record.timestamp !== 'string') return UNRECOGNISED;
  const time = Date.parse(record.timestamp);
  if (Number.isNaN(time)) return UNRECOGNISED;
  switch (record.type) {
    case 'production':
    case 'skipped':
      if (!isId(record.requestId)) return UNRECOGNISED;
      break;
    case 'shadow':
    case 'comparison':
      if (!isId(record.requestId) || typeof record.target !== 'string') return UNRECOGNISED;
      break;
    case 'summary':
    case 'breaker':
      break;
    default:
      return UNRECOGNISED;
  }
  return { kind: 'record', record: record as unknown as ShadowLogRecord, time };
}

function isId(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0;
}
