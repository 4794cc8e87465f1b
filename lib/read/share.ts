/**
 * One thread's share of a read: every thread reads every line, but joins only the requests whose requestId hashes to
 * it, so no request is ever split between threads and each thread's joins are those of a single reader.
 *
 * A line of another thread's request costs only its header — type, requestId, timestamp and target, which the window,
 * the file clocks and the learned targets need from every line — read from its bytes without decoding the line (in
 * the middleware's own layout, `{"type":…,"requestId":…,"timestamp":…,"target":…`, in place; otherwise by searching
 * for the keys). The thread that owns the line decodes and parses it whole and checks the header was right; if it was
 * not (a line that nests these keys before the top-level ones, say), the read is marked `diverged` and must be redone
 * by one reader. Lines that are not records, and `summary`, `breaker`, `judgement` and `judgement_summary` records, belong to the first thread.
 */
import { hashBytes, hashUtf8 } from './hash.js';
import type { Joiner } from './join.js';
import { loggerTimestampBytes, parseLine, parseTimestamp, type LineProblem, type ParsedRecord } from './parse-record.js';
import { slimRecord, type BodyPaths } from './slim-record.js';
import type { ShadowLogRecord } from '../types.js';

/** Which share a reader reads; `diverged` is set (with why) when a line's header was not what its owner parsed. */
export interface ReadShare {
  index: number;
  count: number;
  diverged: string | null;
}

type RecordType = ShadowLogRecord['type'];
const TYPES: readonly RecordType[] = ['production', 'shadow', 'comparison', 'skipped', 'summary', 'breaker', 'judgement_summary', 'judgement'];
const TYPE_BYTES = TYPES.map((t) => Buffer.from(t, 'latin1'));
const REQUEST_TYPES = new Set<string>(['production', 'skipped', 'shadow', 'comparison']);
const key = (text: string): Buffer => Buffer.from(text, 'latin1');
const LAYOUT = { type: key('{"type":"'), requestId: key(',"requestId":"'), clientRequestId: key(',"clientRequestId":"'), timestamp: key(',"timestamp":"'), target: key(',"target":"') };
const KEYS = { type: key('"type":"'), requestId: key('"requestId":"'), timestamp: key('"timestamp":"'), target: key('"target":"') };
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const SPACE = 0x20;
const CARRIAGE_RETURN = 0x0d;
const CLOSE_BRACE = 0x7d;

/** Whether `pattern` is at `position` of `bytes` (before `end`). */
function at(bytes: Buffer, position: number, end: number, pattern: Buffer): boolean {
  if (position + pattern.length > end) return false;
  for (let i = 0; i < pattern.length; i++) if (bytes[position + i] !== pattern[i]) return false;
  return true;
}

/** The header of the line last read (one per parser: lines are parsed one at a time). */
class Header {
  type: RecordType = 'production';
  /** Whether it is a request's record (with a requestId), and the hash of the requestId's bytes. */
  request = false;
  hash = 0;
  idStart = 0;
  idEnd = 0;
  tsStart = 0;
  tsEnd = 0;
  targetStart = -1;
  targetEnd = -1;
  time = NaN;
  /** End of the value last read. */
  end = 0;

  /** Reads the header of the line from `start` to `end`; `false` when the line must be parsed to know what it is. */
  read(bytes: Buffer, start: number, end: number): boolean {
    // A line cut short (the last of a file still being written) is parsed by every thread: it is not a record.
    let last = end - 1;
    while (last > start && (bytes[last] === SPACE || bytes[last] === CARRIAGE_RETURN)) last--;
    if (bytes[last] !== CLOSE_BRACE) return false;
    return this.#inLayout(bytes, start, end) || this.#bySearch(bytes, start, end);
  }

  /** The string value starting at `start`, its end in `end`; -1 when unterminated or escaped. */
  #value(bytes: Buffer, start: number, end: number): number {
    for (let i = start; i < end; i++) {
      const c = bytes[i];
      if (c === QUOTE) {
        this.end = i;
        return start;
      }
      if (c === BACKSLASH) return -1;
    }
    return -1;
  }

  #type(bytes: Buffer, start: number): boolean {
    const length = this.end - start;
    for (let t = 0; t < TYPES.length; t++) {
      const name = TYPE_BYTES[t] as Buffer;
      if (name.length === length && at(bytes, start, this.end, name)) {
        this.type = TYPES[t] as RecordType;
        this.request = REQUEST_TYPES.has(this.type);
        return true;
      }
    }
    return false;
  }

  #time(bytes: Buffer): boolean {
    this.time = this.tsEnd - this.tsStart === 24 ? loggerTimestampBytes(bytes, this.tsStart) : NaN;
    if (Number.isNaN(this.time)) this.time = parseTimestamp(bytes.toString('utf8', this.tsStart, this.tsEnd));
    return !Number.isNaN(this.time);
  }

  /** The value after `pattern` at `next`, or -1. */
  #field(bytes: Buffer, next: number, end: number, pattern: Buffer): number {
    return at(bytes, next, end, pattern) ? this.#value(bytes, next + pattern.length, end) : -1;
  }

  #inLayout(bytes: Buffer, start: number, end: number): boolean {
    const typeStart = this.#field(bytes, start, end, LAYOUT.type);
    if (typeStart === -1 || !this.#type(bytes, typeStart)) return false;
    let next = this.end + 1;
    if (this.request) {
      this.idStart = this.#field(bytes, next, end, LAYOUT.requestId);
      if (this.idStart === -1 || this.end === this.idStart) return false;
      this.idEnd = this.end;
      this.hash = hashBytes(bytes, this.idStart, this.idEnd);
      next = this.end + 1;
      if (at(bytes, next, end, LAYOUT.clientRequestId)) {
        if (this.#value(bytes, next + LAYOUT.clientRequestId.length, end) === -1) return false;
        next = this.end + 1;
      }
    }
    this.tsStart = this.#field(bytes, next, end, LAYOUT.timestamp);
    if (this.tsStart === -1) return false;
    this.tsEnd = this.end;
    if (!this.#time(bytes)) return false;
    this.targetStart = -1;
    if (this.type !== 'shadow' && this.type !== 'comparison') return true;
    this.targetStart = this.#field(bytes, this.end + 1, end, LAYOUT.target);
    this.targetEnd = this.end;
    return this.targetStart !== -1;
  }

  /** Start of the value of the first `pattern` in the line at or after `from` (then from the start); -1 when absent. */
  #search(bytes: Buffer, start: number, end: number, from: number, pattern: Buffer): number {
    const line = bytes.subarray(start, end);
    let found = line.indexOf(pattern, from - start);
    if (found === -1 && from > start) found = line.indexOf(pattern);
    return found === -1 ? -1 : this.#value(bytes, start + found + pattern.length, end);
  }

  /** Any other layout: the first occurrence of each key. */
  #bySearch(bytes: Buffer, start: number, end: number): boolean {
    const typeStart = this.#search(bytes, start, end, start, KEYS.type);
    if (typeStart === -1 || !this.#type(bytes, typeStart)) return false;
    let from = this.end;
    if (this.request) {
      this.idStart = this.#search(bytes, start, end, from, KEYS.requestId);
      if (this.idStart === -1 || this.end === this.idStart) return false;
      this.idEnd = from = this.end;
      this.hash = hashBytes(bytes, this.idStart, this.idEnd);
    }
    this.tsStart = this.#search(bytes, start, end, from, KEYS.timestamp);
    if (this.tsStart === -1) return false;
    this.tsEnd = from = this.end;
    if (!this.#time(bytes)) return false;
    this.targetStart = -1;
    if (this.type !== 'shadow' && this.type !== 'comparison') return true;
    this.targetStart = this.#search(bytes, start, end, from, KEYS.target);
    this.targetEnd = this.end;
    return this.targetStart !== -1;
  }

  target(bytes: Buffer): string | undefined {
    return this.targetStart === -1 ? undefined : bytes.toString('utf8', this.targetStart, this.targetEnd);
  }

  /** Whether the parsed record is the one the header describes. */
  matches(bytes: Buffer, parsed: ParsedRecord): boolean {
    const r = parsed.record as { type: string; requestId?: unknown; timestamp: unknown; target?: unknown };
    if (r.type !== this.type || parsed.time !== this.time || r.timestamp !== bytes.toString('utf8', this.tsStart, this.tsEnd)) return false;
    if (this.request && r.requestId !== bytes.toString('utf8', this.idStart, this.idEnd)) return false;
    return this.targetStart === -1 || r.target === this.target(bytes);
  }
}

/** A record of another thread's request: only its header, not counted here. */
function foreignRecord(type: RecordType, target: string | undefined, answered: boolean, time: number): ParsedRecord {
  return { record: { type, target, answered } as unknown as ShadowLogRecord, time, key: time, owned: false, pm: time, pos: 0, file: 0, prevW: 0 };
}

/** Whether a record (another thread's header, or a whole one) was an answered shadow. */
export function answeredOf(record: ShadowLogRecord): boolean {
  return (record as { answered?: boolean }).answered ?? (record.type === 'shadow' && record.error === undefined);
}

function answeredLine(text: string): boolean {
  const parsed = parseLine(text);
  return typeof parsed !== 'string' && parsed.record.type === 'shadow' && parsed.record.error === undefined;
}

/** The line parser of one share. `bodies`: the parts of response bodies kept in the records (for a label or score path). */
export function shareParser(share: ReadShare, joiner: Joiner, bodies: BodyPaths): (bytes: Buffer, start: number, end: number) => ParsedRecord | LineProblem {
  const header = new Header();
  /** Requests go by the hash of their id's bytes; other lines to the first share. */
  const owner = (request: boolean, hash: number): number => (request ? hash % share.count : 0);
  const slim = (parsed: ParsedRecord): ParsedRecord => {
    parsed.record = slimRecord(parsed.record, bodies);
    return parsed;
  };
  return (bytes, start, end) => {
    if (!header.read(bytes, start, end)) {
      // Not read from its bytes: parse it (every thread does, so all agree on what the line is).
      const parsed = parseLine(bytes.toString('utf8', start, end));
      if (typeof parsed === 'string') return parsed === 'blank' || share.index === 0 ? parsed : 'foreign';
      const request = REQUEST_TYPES.has(parsed.record.type);
      if (owner(request, request ? hashUtf8(String((parsed.record as { requestId: unknown }).requestId)) : 0) === share.index) return slim(parsed);
      const target = (parsed.record as { target?: unknown }).target;
      return foreignRecord(parsed.record.type, typeof target === 'string' ? target : undefined, answeredOf(parsed.record), parsed.time);
    }
    const { type, time } = header;
    if (owner(header.request, header.hash) !== share.index) {
      const target = header.target(bytes);
      const answered = type === 'shadow' && target !== undefined && joiner.needsAnswered(target) ? answeredLine(bytes.toString('utf8', start, end)) : true;
      return foreignRecord(type, target, answered, time);
    }
    const parsed = parseLine(bytes.toString('utf8', start, end));
    if (typeof parsed === 'string' || !header.matches(bytes, parsed)) {
      share.diverged ??= `a line's type, requestId, timestamp or target is not where it was read: ${bytes.toString('utf8', start, Math.min(end, start + 120))}`;
      return typeof parsed === 'string' ? parsed : slim(parsed);
    }
    return slim(parsed);
  };
}
