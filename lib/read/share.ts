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
import { hashRange, hashString } from './hash.js';
import type { Joiner } from './join.js';
import { loggerTimestamp, parseLine, parseTimestamp, type LineProblem, type ParsedRecord } from './parse-record.js';
import { slimRecord } from './slim-record.js';
import type { ShadowLogRecord } from '../types.js';

/** Which share a reader reads; `diverged` is set (with why) when a line's header was not what its owner parsed. */
export interface ReadShare {
  index: number;
  count: number;
  diverged: string | null;
}

type RecordType = ShadowLogRecord['type'];
const TYPES: readonly RecordType[] = ['production', 'shadow', 'comparison', 'skipped', 'summary', 'breaker'];
const REQUEST_TYPES = new Set<string>(['production', 'skipped', 'shadow', 'comparison']);
const BACKSLASH = 0x5c;
const QUOTE = 0x22;
const SPACE = 0x20;
const CARRIAGE_RETURN = 0x0d;
const CLOSE_BRACE = 0x7d;

/** Whether `text` is written in `line` at `position` (a loop the JIT inlines, for the short keys of the layout). */
function at(line: string, text: string, position: number): boolean {
  if (position + text.length > line.length) return false;
  for (let i = 0; i < text.length; i++) if (line.charCodeAt(position + i) !== text.charCodeAt(i)) return false;
  return true;
}

/** The record type written at `start` (`length` characters long), if it is one the reader knows. */
function typeAt(line: string, start: number, length: number): RecordType | undefined {
  for (const type of TYPES) if (type.length === length && at(line, type, start)) return type;
  return undefined;
}

/** The header of the line last searched (one per parser: lines are parsed one at a time). */
class Header {
  type: RecordType = 'production';
  idStart = 0;
  idEnd = 0;
  /** Whether it is a request's record (with a requestId), and the requestId's hash. */
  request = false;
  hash = 0;
  tsStart = 0;
  tsEnd = 0;
  targetStart = 0;
  targetEnd = 0;
  time = NaN;
  /** End of the value last found. */
  end = 0;

  /** Start of the string value of `key` (searched from `from`, then from the start), its end in `end`; -1 when absent or escaped. */
  value(line: string, key: string, from: number): number {
    let at = line.indexOf(key, from);
    if (at === -1 && from > 0) at = line.indexOf(key);
    if (at === -1) return -1;
    return this.#valueFrom(line, at + key.length);
  }

  /** Finds the header; `false` when the line must be parsed to know what it is. */
  search(line: string): boolean {
    // A line cut short (the last of a file still being written) is parsed by every thread: it is not a record.
    let last = line.length - 1;
    while (last > 0 && (line.charCodeAt(last) === SPACE || line.charCodeAt(last) === CARRIAGE_RETURN)) last--;
    if (line.charCodeAt(last) !== CLOSE_BRACE) return false;
    return this.#inLayout(line) || this.#bySearch(line);
  }

  /** The string value starting at `start`, its end in `end`; -1 when unterminated or escaped. */
  #valueFrom(line: string, start: number): number {
    // A loop the JIT inlines: values here are a few dozen characters, where a builtin call costs more than the scan.
    for (let i = start; i < line.length; i++) {
      const c = line.charCodeAt(i);
      if (c === QUOTE) {
        this.end = i;
        return start;
      }
      if (c === BACKSLASH) return -1;
    }
    return -1;
  }

  /** The middleware's own layout (`{"type":…,"requestId":…,"timestamp":…,"target":…`): read in place, no search. */
  #inLayout(line: string): boolean {
    if (!at(line, '{"type":"', 0)) return false;
    const typeStart = this.#valueFrom(line, 9);
    const type = typeStart === -1 ? undefined : typeAt(line, typeStart, this.end - typeStart);
    if (type === undefined) return false;
    this.type = type;
    let next = this.end + 1;
    this.request = type !== 'summary' && type !== 'breaker';
    if (this.request) {
      if (!at(line, ',"requestId":"', next) || this.#valueFrom(line, next + 14) === -1 || this.end === next + 14) return false;
      this.idStart = next + 14;
      this.idEnd = this.end;
      this.hash = hashRange(line, this.idStart, this.idEnd);
      next = this.end + 1;
      if (at(line, ',"clientRequestId":"', next)) {
        if (this.#valueFrom(line, next + 20) === -1) return false;
        next = this.end + 1;
      }
    }
    if (!at(line, ',"timestamp":"', next) || this.#valueFrom(line, next + 14) === -1) return false;
    this.tsStart = next + 14;
    this.tsEnd = this.end;
    if (!this.#time(line)) return false;
    if (type !== 'shadow' && type !== 'comparison') return true;
    next = this.end + 1;
    if (!at(line, ',"target":"', next) || this.#valueFrom(line, next + 11) === -1) return false;
    this.targetStart = next + 11;
    this.targetEnd = this.end;
    return true;
  }

  #time(line: string): boolean {
    this.time = this.tsEnd - this.tsStart === 24 ? loggerTimestamp(line, this.tsStart) : NaN;
    if (Number.isNaN(this.time)) this.time = parseTimestamp(line.slice(this.tsStart, this.tsEnd));
    return !Number.isNaN(this.time);
  }

  /** Any other layout: the first occurrence of each key. */
  #bySearch(line: string): boolean {
    const typeStart = this.value(line, '"type":"', 0);
    if (typeStart === -1) return false;
    const type = typeAt(line, typeStart, this.end - typeStart);
    if (type === undefined) return false;
    this.type = type;
    const request = (this.request = type !== 'summary' && type !== 'breaker');
    let from = this.end;
    if (request) {
      this.idStart = this.value(line, '"requestId":"', from);
      if (this.idStart === -1 || this.end === this.idStart) return false;
      this.idEnd = from = this.end;
      this.hash = hashRange(line, this.idStart, this.idEnd);
    }
    this.tsStart = this.value(line, '"timestamp":"', from);
    if (this.tsStart === -1) return false;
    this.tsEnd = from = this.end;
    if (!this.#time(line)) return false;
    if (type !== 'shadow' && type !== 'comparison') return true;
    this.targetStart = this.value(line, '"target":"', from);
    this.targetEnd = this.end;
    return this.targetStart !== -1;
  }

  /** Whether the parsed record is the one the search found. */
  matches(line: string, parsed: ParsedRecord): boolean {
    const r = parsed.record as { type: string; requestId?: unknown; timestamp: string; target?: unknown };
    if (r.type !== this.type || parsed.time !== this.time || !sameText(line, r.timestamp, this.tsStart, this.tsEnd)) return false;
    if (this.request && !sameText(line, r.requestId, this.idStart, this.idEnd)) return false;
    return (r.type !== 'shadow' && r.type !== 'comparison') || sameText(line, r.target, this.targetStart, this.targetEnd);
  }
}

function sameText(line: string, value: unknown, start: number, end: number): boolean {
  return typeof value === 'string' && value.length === end - start && line.startsWith(value, start);
}

/** A record of another thread's request: only its header, not counted here. */
function foreignRecord(type: RecordType, target: string | undefined, answered: boolean, time: number): ParsedRecord {
  return { record: { type, target, answered } as unknown as ShadowLogRecord, time, key: time, owned: false };
}

/** Whether a record (another thread's header, or a whole one) was an answered shadow. */
export function answeredOf(record: ShadowLogRecord): boolean {
  return (record as { answered?: boolean }).answered ?? (record.type === 'shadow' && record.error === undefined);
}

function requestIdOf(record: ShadowLogRecord): string {
  return REQUEST_TYPES.has(record.type) ? String((record as { requestId: unknown }).requestId) : '';
}

/**
 * The line parser of one share. `bodies`: keep response bodies in the records (for a label or score path).
 */
export function shareParser(share: ReadShare, joiner: Joiner, bodies: boolean): (line: string) => ParsedRecord | LineProblem {
  const header = new Header();
  /** Requests go by their id's hash; other lines to the first share. */
  const owner = (request: boolean, hash: number): number => (request ? hash % share.count : 0);
  const slim = (parsed: ParsedRecord): ParsedRecord => {
    parsed.record = slimRecord(parsed.record, bodies);
    return parsed;
  };
  return (line) => {
    if (!header.search(line)) {
      // Not found by searching: parse it (every thread does, so all agree on what the line is).
      const parsed = parseLine(line);
      if (typeof parsed === 'string') return parsed === 'blank' || share.index === 0 ? parsed : 'foreign';
      const id = requestIdOf(parsed.record);
      if (owner(REQUEST_TYPES.has(parsed.record.type), hashString(id)) === share.index) return slim(parsed);
      const target = (parsed.record as { target?: string }).target;
      return foreignRecord(parsed.record.type, typeof target === 'string' ? target : undefined, answeredOf(parsed.record), parsed.time);
    }
    const { type, time } = header;
    if (owner(header.request, header.hash) !== share.index) {
      if (type !== 'shadow' && type !== 'comparison') return foreignRecord(type, undefined, false, time);
      const target = line.slice(header.targetStart, header.targetEnd);
      return foreignRecord(type, target, type === 'shadow' && joiner.needsAnswered(target) ? parsedAnswered(line) : true, time);
    }
    const parsed = parseLine(line);
    if (typeof parsed === 'string' || !header.matches(line, parsed)) {
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
