/**
 * Bodies as they go into the log and into comparison: decoded when compressed, parsed once when JSON,
 * UTF-8 text when text, base64 otherwise; cut at `maxLoggedBodyBytes`; secrets masked (redact-body.ts).
 */
import { isUtf8 } from 'node:buffer';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import type { LoggedBody } from '../types.js';
import type { DecodedBody } from './exchange.js';
import { bodyDigestForLog, redactedBodyForLog, type BodyRules } from './redact-body.js';

export type { DecodedBody };

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
/** A body with its content-encoding undone (up to `maxBytes`), or as it was when it has none we undo. */
export interface DecodedContent {
  bytes: Buffer;
  decoded: boolean;
  cut: boolean;
}

/**
 * Undoes a body's content-encoding. Synchronous when there is nothing to inflate (the usual case), so the engine's
 * work on a request stays within one slice of its loop (work-loop.ts); inflating goes to the threadpool.
 */
export function decodeContent(body: Buffer, contentEncoding: string | undefined, maxBytes: number): DecodedContent | Promise<DecodedContent> {
  const encoding = contentEncoding?.trim().toLowerCase();
  const inflate = encoding ? inflaters[encoding] : undefined;
  if (!inflate || body.length === 0) return { bytes: body, decoded: false, cut: false };
  return inflateContent(inflate, body, maxBytes);
}

async function inflateContent(inflate: NonNullable<(typeof inflaters)[string]>, body: Buffer, maxBytes: number): Promise<DecodedContent> {
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

/**
 * The log's view of a body: masked by `rules` (see redact-body.ts), or only its size and SHA-256 when this side's
 * bodies are not logged (`logBodies`).
 */
export function bodyForLog(body: DecodedBody, contentType: string | undefined, rules: BodyRules, logBody = true): LoggedBody {
  return logBody ? redactedBodyForLog(body, contentType, rules) : bodyDigestForLog(body);
}
