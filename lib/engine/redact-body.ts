/**
 * The log's view of a body, with secrets masked whatever the body's type: JSON (also when sent as `text/plain` or
 * without a content type: a body that parses as a JSON object or array is JSON), urlencoded forms (field names),
 * multipart (text fields by name; files as metadata only, never their bytes), event streams (each event), and text
 * (values). What cannot be parsed and may hide a named field is not logged at all: this fails closed.
 */
import { isUtf8 } from 'node:buffer';
import { createHash } from 'node:crypto';
import { getMultipartBoundary, parseMultipart } from '@remix-run/multipart-parser';
import { redactAt, redactJson, type PathPattern, type PathSegment, parsePath } from '../json-path.js';
import type { Difference, LoggedBody, MultipartPartLog } from '../types.js';
import { eitherMatcher, type NameMatcher } from './credentials.js';
import type { DecodedBody } from './exchange.js';
import { decodeFormName } from './redact-query.js';
import { streamFormatOf, type StreamFormat } from './stream-events.js';

const BODY_MASK = '[REDACTED]';

/** Body fields masked by default, at any depth (strings and numbers only: see `PathPattern.scalarsOnly`). */
export const DEFAULT_REDACT_PATHS: readonly string[] = Object.freeze([
  '$..password',
  '$..passwd',
  '$..secret',
  '$..token',
  '$..access_token',
  '$..refresh_token',
  '$..api_key',
  '$..card_number',
  '$..cvv',
  '$..ssn',
]);

/** How bodies are masked in the log: built once per middleware by `createBodyRules`. */
export interface BodyRules {
  /** Compiled `redact` paths (the defaults plus the user's, minus those allowed). */
  readonly paths: readonly PathPattern[];
  /** Urlencoded and multipart field names that are secrets: named by `paths`, or credential parameter names. */
  readonly fields: NameMatcher;
  /** Value masking (`redactValues`) of text, or `undefined` when off. */
  readonly maskText: ((text: string) => string) | undefined;
  /** The same for JSON scalars (numbers that are card numbers too). */
  readonly maskScalar: ((value: string | number) => unknown) | undefined;
  readonly maxLoggedBodyBytes: number;
}

/**
 * Rules from their parts. `credentialParams` also decides form fields: an OAuth token form posts `code`,
 * `client_secret` and `refresh_token` exactly as a query string would.
 */
export function createBodyRules(
  paths: readonly PathPattern[],
  credentialParams: NameMatcher,
  maskText: BodyRules['maskText'],
  maskScalar: BodyRules['maskScalar'],
  maxLoggedBodyBytes: number,
): BodyRules {
  return { paths, fields: eitherMatcher(fieldMatcher(paths), credentialParams), maskText, maskScalar, maxLoggedBodyBytes };
}

/** A form field name as path segments: `user[password]` is `$.user.password`, `items[0][cvv]` is `$.items[0].cvv`. */
export function fieldSegments(name: string): PathSegment[] {
  const bracket = name.indexOf('[');
  if (bracket <= 0 || !name.endsWith(']')) return [name];
  const segments: PathSegment[] = [name.slice(0, bracket)];
  for (const part of name.slice(bracket + 1, -1).split('][')) {
    if (part === '') continue;
    segments.push(/^(0|[1-9][0-9]{0,8})$/.test(part) ? Number(part) : part);
  }
  return segments;
}

function fieldMatcher(paths: readonly PathPattern[]): NameMatcher {
  return { has: (name) => paths.some((pattern) => pattern.covers(fieldSegments(name))) };
}

/** Size and SHA-256 of bytes: what the log keeps of a body it must not show. */
function digestOf(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** A body as logged when bodies are off (`logBodies`): its size and SHA-256, never its bytes. */
export function bodyDigestForLog(body: DecodedBody): LoggedBody {
  if (body.totalBytes === 0) return {};
  return { bodyBytes: body.totalBytes, bodySha256: digestOf(body.bytes), ...(body.truncated ? { truncated: true as const } : {}) };
}

/** The log's view of a body, masked by `rules`. Never returns the live parsed object when something was masked. */
export function redactedBodyForLog(body: DecodedBody, contentType: string | undefined, rules: BodyRules): LoggedBody {
  if (body.totalBytes === 0) return {};
  const logged: LoggedBody = { bodyBytes: body.totalBytes };
  const type = mediaTypeOf(contentType);
  if (type === 'multipart/form-data') return multipartForLog(body, contentType!, rules, logged);
  const cut = body.truncated || body.bytes.length > rules.maxLoggedBodyBytes;
  if (body.isJson) return jsonForLog(body.json, body, rules, logged);
  const stream = streamFormatOf(contentType);
  // A whole capture is parsed even when too long to log whole: it is masked first, then cut.
  const sniffed = body.truncated || stream ? undefined : sniffJson(body.bytes);
  if (sniffed) return jsonForLog(sniffed.json, body, rules, logged);
  if (!stream && rules.paths.length > 0 && looksLikeJson(body.bytes)) {
    // JSON we could not parse (cut off, or invalid): the fields to mask cannot be found, so none of it is logged.
    logged.body = BODY_MASK;
    logged.bodySha256 = digestOf(body.bytes);
    if (cut) logged.truncated = true;
    return logged;
  }
  const shown = cut ? trimPartialUtf8(body.bytes.subarray(0, rules.maxLoggedBodyBytes)) : body.bytes;
  if (cut) logged.truncated = true;
  // Whole JSON that did not parse is logged as bytes: as a string it would read like a JSON string value.
  const invalidJson = !cut && isJsonType(type);
  if (invalidJson || !isUtf8(shown) || !(isTextType(type) || rules.maskText)) {
    logged.body = shown.toString('base64');
    logged.bodyEncoding = 'base64';
    return logged;
  }
  const text = shown.toString('utf8');
  if (type === 'application/x-www-form-urlencoded') logged.body = formForLog(text, rules);
  else if (stream) logged.body = streamTextForLog(text, stream, rules);
  else logged.body = rules.maskText ? rules.maskText(text) : text;
  return logged;
}

function jsonForLog(json: unknown, body: DecodedBody, rules: BodyRules, logged: LoggedBody): LoggedBody {
  const masked = redactJson(json, rules.paths, rules.maskScalar ? { mapScalar: rules.maskScalar } : {});
  if (body.bytes.length <= rules.maxLoggedBodyBytes && !body.truncated) {
    logged.body = masked;
    return logged;
  }
  // Too long to log whole: masked first, then cut.
  const text = Buffer.from(JSON.stringify(masked), 'utf8');
  if (text.length <= rules.maxLoggedBodyBytes) {
    logged.body = masked;
    return logged;
  }
  logged.body = trimPartialUtf8(text.subarray(0, rules.maxLoggedBodyBytes)).toString('utf8');
  logged.truncated = true;
  return logged;
}

/** Urlencoded pairs with secret fields' values masked; other values through value masking. Bytes otherwise as sent. */
function formForLog(text: string, rules: Pick<BodyRules, 'fields' | 'maskText'>): string {
  return text
    .split('&')
    .map((pair) => {
      const equals = pair.indexOf('=');
      if (equals === -1) return pair;
      const rawName = pair.slice(0, equals);
      if (rules.fields.has(decodeFormName(rawName))) return `${rawName}=${BODY_MASK}`;
      if (!rules.maskText) return pair;
      const value = decodeFormName(pair.slice(equals + 1));
      const masked = rules.maskText(value);
      return masked === value ? pair : `${rawName}=${masked}`;
    })
    .join('&');
}

/**
 * Multipart as a list of parts: text fields with their value (masked by name, JSON values masked inside, text by
 * value), files by name, filename, type, size and SHA-256 only. A body that does not parse is not logged.
 */
function multipartForLog(body: DecodedBody, contentType: string, rules: BodyRules, logged: LoggedBody): LoggedBody {
  const boundary = getMultipartBoundary(contentType);
  if (body.truncated || boundary === null) return { ...logged, body: BODY_MASK, ...(body.truncated ? { truncated: true as const } : {}) };
  const parts: MultipartPartLog[] = [];
  let budget = rules.maxLoggedBodyBytes;
  try {
    for (const part of parseMultipart(body.bytes, { boundary, maxParts: 1000 })) {
      const name = part.name ?? '';
      if (part.isFile || !isUtf8(part.bytes)) {
        parts.push({ name, ...(part.filename !== undefined ? { filename: part.filename } : {}), type: part.mediaType ?? 'application/octet-stream', bytes: part.size, sha256: digestOf(part.bytes) });
        continue;
      }
      if (part.size > budget) {
        // Past the byte cap the values are summarised like files, and the body is flagged cut.
        parts.push({ name, bytes: part.size, sha256: digestOf(part.bytes) });
        logged.truncated = true;
        continue;
      }
      budget -= part.size;
      parts.push({ name, value: rules.fields.has(name) ? BODY_MASK : redactText(part.text, rules) });
    }
  } catch {
    return { ...logged, body: BODY_MASK };
  }
  logged.body = parts;
  logged.bodyEncoding = 'multipart';
  return logged;
}

/** An event stream's text with each event's payload masked: JSON payloads by `redact`, others by value. */
export function streamTextForLog(text: string, format: StreamFormat, rules: Pick<BodyRules, 'paths' | 'maskText' | 'maskScalar'>): string {
  const pieces = text.split(/(\r\n|\r|\n)/);
  if (format === 'jsonl') {
    for (let index = 0; index < pieces.length; index += 2) if (pieces[index]!.trim() !== '') pieces[index] = redactText(pieces[index]!, rules);
    return pieces.join('');
  }
  // SSE: the data lines of one event form its payload; a payload changed by masking is written back as one line.
  const out: string[] = [];
  let run: { line: string; separator: string }[] = [];
  const flush = (): void => {
    if (run.length === 0) return;
    const payload = run.map(({ line }) => line.slice(line[5] === ' ' ? 6 : 5)).join('\n');
    const masked = redactText(payload, rules);
    if (masked === payload) for (const { line, separator } of run) out.push(line, separator);
    else out.push(`data: ${masked.replace(/\r\n|\r|\n/g, ' ')}`, run[run.length - 1]!.separator);
    run = [];
  };
  for (let index = 0; index < pieces.length; index += 2) {
    const line = pieces[index]!;
    const separator = pieces[index + 1] ?? '';
    if (line.startsWith('data:')) {
      run.push({ line, separator });
      continue;
    }
    flush();
    out.push(line, separator);
  }
  flush();
  return out.join('');
}

/**
 * A piece of logged text (an event payload, a form value, an assembled answer, a text difference): JSON objects and
 * arrays masked by `redact` (written back compactly only when something changed), text that looks like cut-off JSON
 * masked whole, anything else by value.
 */
export function redactText(text: string, rules: Pick<BodyRules, 'paths' | 'maskText' | 'maskScalar'>): string {
  const trimmed = text.trimStart();
  if (trimmed.startsWith('{') || trimmed.startsWith('[')) {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      // Cut-off or broken objects may hide a named field; a bare `[DONE]` cannot.
      const mayHideField = trimmed.startsWith('{') || trimmed.includes('{');
      if (rules.paths.length > 0 && mayHideField) return BODY_MASK;
      return rules.maskText ? rules.maskText(text) : text;
    }
    const masked = redactJson(json, rules.paths, rules.maskScalar ? { mapScalar: rules.maskScalar } : {});
    return masked === json ? text : JSON.stringify(masked);
  }
  return rules.maskText ? rules.maskText(text) : text;
}

/**
 * A comparison difference with secrets masked: the values at or under a named path, and text values (a byte-level
 * difference at `$` shows short bodies) as text. With `keepValues` false, only the path is kept.
 */
export function redactDifference(difference: Difference, rules: Pick<BodyRules, 'paths' | 'maskText' | 'maskScalar'>, keepValues = true): Difference {
  // A similarity score says nothing of the texts: it is kept even when their values are not.
  const score = typeof difference.score === 'number' ? { score: difference.score } : {};
  if (!keepValues) return { path: difference.path, ...score };
  const at = segmentsOf(difference.path);
  const mask = (value: unknown): unknown => {
    if (typeof value === 'string' && at.length === 0) return redactText(value, rules);
    return redactAt(value, at, rules.paths, rules.maskScalar ? { mapScalar: rules.maskScalar } : {});
  };
  return {
    path: difference.path,
    ...('production' in difference ? { production: mask(difference.production) } : {}),
    ...('shadow' in difference ? { shadow: mask(difference.shadow) } : {}),
    ...score,
  };
}

/** Paths of differences seen lately, parsed: the same few paths differ request after request. Bounded. */
const parsedPaths = new Map<string, readonly PathSegment[]>();
const PARSED_PATHS_KEPT = 512;

/** A difference's path as segments; `[]` for a custom comparator's own path (its value is masked as a document). */
function segmentsOf(path: string): readonly PathSegment[] {
  let segments = parsedPaths.get(path);
  if (segments) return segments;
  try {
    segments = parsePath(path);
  } catch {
    segments = [];
  }
  if (parsedPaths.size >= PARSED_PATHS_KEPT) parsedPaths.clear();
  parsedPaths.set(path, segments);
  return segments;
}

function mediaTypeOf(contentType: string | undefined): string | undefined {
  return contentType?.split(';', 1)[0]!.trim().toLowerCase();
}

function isJsonType(type: string | undefined): boolean {
  return type !== undefined && (type === 'application/json' || type.endsWith('+json'));
}

function isTextType(type: string | undefined): boolean {
  if (type === undefined) return false;
  return (
    type.startsWith('text/') ||
    type.endsWith('+xml') ||
    type.endsWith('+json') ||
    type === 'application/xml' ||
    type === 'application/json' ||
    type === 'application/x-www-form-urlencoded' ||
    type === 'application/javascript' ||
    streamFormatOf(type) !== undefined
  );
}

/** First byte past whitespace is `{` or `[`: the body is meant as JSON, whatever its content type says. */
function looksLikeJson(bytes: Buffer): boolean {
  for (const byte of bytes) {
    if (byte === 0x20 || byte === 0x09 || byte === 0x0a || byte === 0x0d) continue;
    return byte === 0x7b || byte === 0x5b;
  }
  return false;
}

/** A whole body that parses as a JSON object or array, parsed. */
function sniffJson(bytes: Buffer): { json: unknown } | undefined {
  if (!looksLikeJson(bytes) || !isUtf8(bytes)) return undefined;
  try {
    return { json: JSON.parse(bytes.toString('utf8')) };
  } catch {
    return undefined;
  }
}

/** A cut may fall inside a multi-byte character; drop that tail. */
function trimPartialUtf8(bytes: Buffer): Buffer {
  let end = bytes.length;
  for (let back = 1; back <= 3 && end - back >= 0; back++) {
    const byte = bytes[end - back]!;
    if ((byte & 0xc0) !== 0x80) {
      // A lead byte: if its character is incomplete, drop it.
      const needed = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc0 ? 2 : 1;
      if (needed > back) end -= back;
      break;
    }
  }
  return bytes.subarray(0, end);
}
