/**
 * One thread's share of a read: every thread reads every line, but joins only the requests whose requestId hashes to
 * it, so no request is ever split between threads and each thread's joins are those of a single reader.
 *
 * A line of another thread's request costs only its header: type, requestId, timestamp and target, found by searching
 * for their keys, without parsing the rest (the window, the file clocks and the learned targets need them from every
 * line). The thread that owns the line parses it whole and checks the header was right; if it was not (a log whose
 * lines nest these keys before the top-level ones, say), the read is marked `diverged` and must be redone by one reader.
 * Lines that are not records, and `summary` and `breaker` records, belong to the first thread.
 */
import { hashString } from './hash.js';
import type { Joiner } from './join.js';
import { parseLine, parseTimestamp, type LineProblem, type ParsedRecord } from './parse-record.js';
import { slimRecord } from './slim-record.js';
import type { ShadowLogRecord } from '../types.js';

/** Which share a reader reads; `diverged` is set (with why) when a line's header was not what its owner parsed. */
export interface ReadShare {
  index: number;
  count: number;
  diverged: string | null;
}

const REQUEST_TYPES = new Set(['production', 'skipped', 'shadow', 'comparison']);
const AGGREGATE_TYPES = new Set(['summary', 'breaker']);

/** The string value of the first `"key":"` in the line; `undefined` when absent or written with an escape. */
function quick(line: string, key: string): string | undefined {
  const at = line.indexOf(key);
  if (at === -1) return undefined;
  const start = at + key.length;
  const end = line.indexOf('"', start);
  if (end === -1) return undefined;
  const value = line.slice(start, end);
  return value.indexOf('\\') === -1 ? value : undefined;
}

interface Header {
  type: string;
  requestId: string;
  timestamp: string;
  target: string | undefined;
  time: number;
}

/** The header found by searching, when it names a record the reader would accept; else `undefined` (parse the line). */
function quickHeader(line: string): Header | undefined {
  const type = quick(line, '"type":"');
  const timestamp = quick(line, '"timestamp":"');
  if (type === undefined || timestamp === undefined) return undefined;
  const time = parseTimestamp(timestamp);
  if (Number.isNaN(time)) return undefined;
  if (AGGREGATE_TYPES.has(type)) return { type, requestId: '', timestamp, target: undefined, time };
  if (!REQUEST_TYPES.has(type)) return undefined;
  const requestId = quick(line, '"requestId":"');
  if (requestId === undefined || requestId === '') return undefined;
  if (type === 'production' || type === 'skipped') return { type, requestId, timestamp, target: undefined, time };
  const target = quick(line, '"target":"');
  return target === undefined ? undefined : { type, requestId, timestamp, target, time };
}

function headerOf(parsed: ParsedRecord): Header {
  const record = parsed.record as { type: string; requestId?: string; timestamp: string; target?: string };
  const request = REQUEST_TYPES.has(record.type);
  return {
    type: record.type,
    requestId: request ? String(record.requestId) : '',
    timestamp: record.timestamp,
    target: record.type === 'shadow' || record.type === 'comparison' ? record.target : undefined,
    time: parsed.time,
  };
}

function sameHeader(a: Header, b: Header): boolean {
  return a.type === b.type && a.requestId === b.requestId && a.timestamp === b.timestamp && a.target === b.target && a.time === b.time;
}

/** A record of another thread's request: only its header, not counted here. */
function foreignRecord(header: Header, answered: boolean): ParsedRecord {
  const record = { type: header.type, requestId: header.requestId, timestamp: header.timestamp, target: header.target, answered };
  return { record: record as unknown as ShadowLogRecord, time: header.time, key: header.time, owned: false };
}

/** Whether a record of another thread's request was an answered shadow (parsed only while the joiner needs it). */
export function answeredOf(record: ShadowLogRecord): boolean {
  return (record as { answered?: boolean }).answered ?? (record.type === 'shadow' && record.error === undefined);
}

/**
 * The line parser of one share. `bodies`: keep response bodies in the records (for a label or score path).
 */
export function shareParser(share: ReadShare, joiner: Joiner, bodies: boolean): (line: string) => ParsedRecord | LineProblem {
  const ownerOf = (header: Header): number => (header.requestId === '' ? 0 : hashString(header.requestId) % share.count);
  const slim = (parsed: ParsedRecord): ParsedRecord => ({ ...parsed, record: slimRecord(parsed.record, bodies) });
  return (line) => {
    const header = quickHeader(line);
    if (header === undefined) {
      // Not found by searching: parse it (every thread does, so all agree on what the line is).
      const parsed = parseLine(line);
      if (typeof parsed === 'string') return parsed === 'blank' || share.index === 0 ? parsed : 'foreign';
      const exact = headerOf(parsed);
      return ownerOf(exact) === share.index ? slim(parsed) : foreignRecord(exact, answeredOf(parsed.record));
    }
    if (ownerOf(header) !== share.index) {
      const answered = header.type === 'shadow' && header.target !== undefined && joiner.needsAnswered(header.target) ? parsedAnswered(line) : true;
      return foreignRecord(header, answered);
    }
    const parsed = parseLine(line);
    if (typeof parsed === 'string' || !sameHeader(header, headerOf(parsed))) {
      share.diverged ??= `a line's type, requestId, timestamp or target is not where a search finds it: ${line.slice(0, 120)}`;
      return typeof parsed === 'string' ? parsed : slim(parsed);
    }
    return slim(parsed);
  };
}

function parsedAnswered(line: string): boolean {
  const parsed = parseLine(line);
  return typeof parsed !== 'string' && parsed.record.type === 'shadow' && parsed.record.error === undefined;
}
