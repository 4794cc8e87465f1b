/**
 * Bodies as they go into the log and into comparison: decoded when compressed, parsed once when JSON,
 * UTF-8 text when text, base64 otherwise; cut at `maxLoggedBodyBytes`; JSON fields masked by `redact`.
 */
import { isUtf8 } from 'node:buffer';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { redactPaths, type PathPattern } from '../json-path.js';
import type { LoggedBody } from '../types.js';

/** A body decoded and, when JSON, parsed: shared by the log record and the comparator. */
export interface DecodedBody {
  bytes: Buffer;
  /** Size of the whole body (more than `bytes.length` when the capture was cut). */
  totalBytes: number;
  truncated: boolean;
  isJson: boolean;
  json?: unknown;
}

const inflaters: Record<string, (buffer: Buffer, options: zlib.ZlibOptions & zlib.BrotliOptions) => Promise<Buffer>> = {
  gzip: promisify(zlib.gunzip),
  'x-gzip': promisify(zlib.gunzip),
  deflate: promisify(zlib.inflate),
  br: promisify(zlib.brotliDecompress),
};

/**
 * Undoes `content-encoding` so the log holds what the model answered. Runs on libuv's thread pool, not on the
 * event loop; output is capped (`maxOutputLength`) so a compression bomb cannot grow memory. Bytes that do not
 * decode (a compressor ran after our capture point saw plain bytes, or the capture was cut) are kept as they are.
 */
export async function decodeContent(
  body: Buffer,
  contentEncoding: string | undefined,
  maxBytes: number,
): Promise<{ bytes: Buffer; decoded: boolean; cut: boolean }> {
  const encoding = contentEncoding?.trim().toLowerCase();
  const inflate = encoding ? inflaters[encoding] : undefined;
  if (!inflate || body.length === 0) return { bytes: body, decoded: false, cut: false };
  try {
    const bytes = await inflate(body, { maxOutputLength: Math.max(1, maxBytes) });
    return { bytes, decoded: true, cut: false };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') return { bytes: body, decoded: false, cut: true };
    return { bytes: body, decoded: false, cut: false };
  }
}

export function isJsonContentType(contentType: string | undefined): boolean {
  if (!contentType) return false;
  const type = contentType.split(';', 1)[0]!.trim().toLowerCase();
  return type === 'application/json' || type.endsWith('+json') || type === 'application/x-ndjson';
}

function isTextContentType(contentType: string | undefined): boolean {
  if (!contentType) return false;
  const type = contentType.split(';', 1)[0]!.trim().toLowerCase();
  return (
    type.startsWith('text/') ||
    type.endsWith('+xml') ||
    type === 'application/xml' ||
    type === 'application/x-www-form-urlencoded' ||
    type === 'application/javascript' ||
    isJsonContentType(type)
  );
}

/** Parses JSON bodies once. Invalid JSON or invalid UTF-8 under a JSON content type is simply not JSON. */
export function decodeBody(bytes: Buffer, totalBytes: number, truncated: boolean, contentType: string | undefined): DecodedBody {
  const decoded: DecodedBody = { bytes, totalBytes, truncated, isJson: false };
  if (!truncated && bytes.length > 0 && isJsonContentType(contentType) && isUtf8(bytes)) {
    try {
      decoded.json = JSON.parse(bytes.toString('utf8'));
      decoded.isJson = true;
    } catch {
      // Not JSON after all: logged as text or base64 below, still mirrored byte for byte.
    }
  }
  return decoded;
}

/** The log's view of a body. Never returns the live parsed object when fields are redacted. */
export function bodyForLog(
  body: DecodedBody,
  contentType: string | undefined,
  maxLoggedBodyBytes: number,
  redact: readonly PathPattern[],
): LoggedBody {
  if (body.totalBytes === 0) return {};
  const logged: LoggedBody = { bodyBytes: body.totalBytes };
  const cut = body.truncated || body.bytes.length > maxLoggedBodyBytes;
  if (body.isJson && !cut) {
    logged.body = redact.length > 0 ? redactPaths(body.json, redact) : body.json;
    return logged;
  }
  if (redact.length > 0 && isJsonContentType(contentType)) return maskedJsonForLog(body, logged, maxLoggedBodyBytes, redact);
  const shown = body.bytes.length > maxLoggedBodyBytes ? body.bytes.subarray(0, maxLoggedBodyBytes) : body.bytes;
  // Whole JSON that did not parse is logged as bytes: as a string it would read like a JSON string value.
  const invalidJson = !cut && isJsonContentType(contentType);
  if (isTextContentType(contentType) && !invalidJson && isUtf8(cut ? trimPartialUtf8(shown) : shown)) {
    logged.body = shown.toString('utf8');
  } else {
    logged.body = shown.toString('base64');
    logged.bodyEncoding = 'base64';
  }
  if (cut) logged.truncated = true;
  return logged;
}

/**
 * A JSON body under `redact` that cannot be logged parsed. Too long to log whole: masked first, then cut. Not parsed
 * (invalid, or cut off before it could be): the fields to mask cannot be found, so none of it is logged.
 */
function maskedJsonForLog(body: DecodedBody, logged: LoggedBody, maxLoggedBodyBytes: number, redact: readonly PathPattern[]): LoggedBody {
  if (!body.isJson) {
    logged.body = '[REDACTED]';
    if (body.truncated) logged.truncated = true;
    return logged;
  }
  const masked = redactPaths(body.json, redact);
  const text = Buffer.from(JSON.stringify(masked), 'utf8');
  if (text.length <= maxLoggedBodyBytes) {
    logged.body = masked;
    return logged;
  }
  logged.body = trimPartialUtf8(text.subarray(0, maxLoggedBodyBytes)).toString('utf8');
  logged.truncated = true;
  return logged;
}

/** A cut may fall inside a multi-byte character; ignore that tail when checking the text is UTF-8. */
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
