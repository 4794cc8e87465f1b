/**
 * From a logged production record back to the request production received: method, path, headers and body, or
 * the reason it cannot be rebuilt without guessing. Pure: no I/O, no clock.
 */
import { isJsonContentType } from '../engine/logged-body.js';
import { headerString } from '../engine/answers.js';
import { shadowRequestHeaders } from '../engine/headers.js';
import type { NameMatcher } from '../engine/credentials.js';
import { shadowUrlFor, type ParsedTarget } from '../engine/target-url.js';
import type { HeaderMap, ProductionRecord, ShadowRequest } from '../types.js';
import type { NotReplayableReason } from './types.js';

/** Any mask the log writes: `[REDACTED]` (headers, query, fields) and `[REDACTED:card]` (value masking). */
const MASK = '[REDACTED';

interface RebuildRules {
  target: ParsedTarget;
  /** Header names never sent: hop-by-hop, trace context, credentials. */
  dropped: NameMatcher;
  /** Upper-case methods allowed; `null`: any. */
  methods: ReadonlySet<string> | null;
  /** Added last, so they win over logged ones (lower-case names). */
  extraHeaders: HeaderMap;
}

export interface RebuiltRequest {
  request: ShadowRequest;
  url: URL;
  /** The body was re-serialised from `req.body` in production. */
  approximate: boolean;
  /** A logged credential (masked) was left out. */
  credentialsDropped: boolean;
}

type Rebuilt = { ok: true; value: RebuiltRequest } | { ok: false; reason: NotReplayableReason };

const refuse = (reason: NotReplayableReason): Rebuilt => ({ ok: false, reason });

export function rebuildRequest(record: ProductionRecord, rules: RebuildRules): Rebuilt {
  const method = record.method.toUpperCase();
  if (rules.methods !== null && !rules.methods.has(method)) return refuse('method_not_allowed');
  const body = loggedRequestBody(record);
  if (!body.ok) return refuse(body.reason);
  const path = unmaskedPath(record.path);
  if (!path.ok) return refuse('path_redacted');
  const url = shadowUrlFor(rules.target, path.path);
  if (url === undefined) return refuse('bad_path');

  let credentialsDropped = path.dropped;
  const logged: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(record.request.headers ?? {})) {
    const values = Array.isArray(value) ? value : [value];
    if (values.some((item) => String(item).includes(MASK))) {
      credentialsDropped = true;
      continue;
    }
    logged[name.toLowerCase()] = value;
  }
  const headers = shadowRequestHeaders(logged, rules.dropped, record.requestId, body.bytes, !body.exact);
  for (const [name, value] of Object.entries(rules.extraHeaders)) headers[name.toLowerCase()] = value;
  const request: ShadowRequest = {
    requestId: record.requestId,
    method,
    path: path.path,
    headers,
    body: body.bytes,
    ...(body.json !== undefined ? { json: body.json } : {}),
  };
  return { ok: true, value: { request, url, approximate: record.request.bodySource === 'parsed', credentialsDropped } };
}

/** `exact`: the bytes production received (content-encoding and all), not a body rebuilt from its logged form. */
type LoggedRequestBody = { ok: true; bytes: Buffer | undefined; json?: unknown; exact?: true } | { ok: false; reason: NotReplayableReason };

/** The request body's bytes as logged: JSON re-serialised, text as UTF-8, base64 decoded. */
function loggedRequestBody(record: ProductionRecord): LoggedRequestBody {
  const logged = record.request;
  // Logged with `logRequestBodies: 'replayable'`: the exact bytes production received.
  if (logged.replayable && 'base64' in logged.replayable) return { ok: true, bytes: Buffer.from(logged.replayable.base64, 'base64'), exact: true };
  if (logged.body === undefined) {
    if (logged.bodySha256 !== undefined) return { ok: false, reason: 'body_not_logged' };
    return { ok: true, bytes: undefined };
  }
  if (logged.truncated) return { ok: false, reason: 'body_truncated' };
  if (logged.bodyEncoding === 'multipart') return { ok: false, reason: 'body_multipart' };
  if (logged.bodyEncoding === 'base64') return { ok: true, bytes: Buffer.from(String(logged.body), 'base64') };
  const contentType = headerString(logged.headers?.['content-type']);
  const isText = typeof logged.body === 'string' && !isJsonContentType(contentType);
  const text = isText ? (logged.body as string) : JSON.stringify(logged.body);
  // A masked field would reach the candidate as data; unmasked body bytes are not in the log.
  if (text.includes(MASK)) return { ok: false, reason: logged.bodySha256 !== undefined ? 'body_not_logged' : 'body_redacted' };
  return { ok: true, bytes: Buffer.from(text, 'utf8'), ...(isText ? {} : { json: logged.body }) };
}

/**
 * The logged path with masked query parameters removed (the middleware withholds credential parameters from its
 * shadows too). A mask outside the query cannot be undone.
 */
function unmaskedPath(path: string): { ok: true; path: string; dropped: boolean } | { ok: false } {
  const question = path.indexOf('?');
  const pathname = question === -1 ? path : path.slice(0, question);
  if (pathname.includes(MASK)) return { ok: false };
  if (question === -1 || !path.includes(MASK, question)) return { ok: true, path, dropped: false };
  const pairs = path.slice(question + 1).split('&');
  const kept = pairs.filter((pair) => !pair.includes(MASK) && !pair.includes(encodeURIComponent(MASK)));
  return { ok: true, path: kept.length > 0 ? `${pathname}?${kept.join('&')}` : pathname, dropped: true };
}
