/**
 * After a parser consumed the stream, the best the tap can hand off is `req.body` re-serialised: bytes as they are,
 * text as UTF-8, JSON as JSON, flat forms as urlencoded. `undefined` when none of these fits.
 */
import type { IncomingMessage } from 'node:http';
import { isJsonContentType } from '../engine/logged-body.js';

export function reserialiseParsedBody(req: IncomingMessage & { body?: unknown }): Uint8Array | undefined {
  const parsed = req.body;
  if (parsed instanceof Uint8Array) return new Uint8Array(parsed);
  if (typeof parsed === 'string') return encode(parsed);
  if (parsed === undefined || parsed === null || typeof parsed !== 'object') return undefined;
  const contentType = String(req.headers['content-type'] ?? '');
  if (isJsonContentType(contentType)) {
    try {
      return encode(JSON.stringify(parsed));
    } catch {
      return undefined;
    }
  }
  if (contentType.toLowerCase().startsWith('application/x-www-form-urlencoded')) {
    const form = new URLSearchParams();
    for (const [key, value] of Object.entries(parsed)) {
      const values: unknown[] = Array.isArray(value) ? value : [value];
      if (!values.every((item) => typeof item === 'string')) return undefined;
      for (const item of values as string[]) form.append(key, item);
    }
    return encode(form.toString());
  }
  return undefined;
}

const encoder = new TextEncoder();
function encode(text: string): Uint8Array {
  return encoder.encode(text);
}
