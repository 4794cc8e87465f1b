/**
 * Headers of the shadow request and of logged messages.
 */
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import type { HeaderMap } from '../types.js';
import type { NameMatcher } from './credentials.js';
import { maskQuery, removeQueryParams } from './redact-query.js';

/** Hop-by-hop headers (RFC 9110 §7.6.1) and others that describe one connection, not the message. */
const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade',
  'proxy-authorization', 'proxy-authenticate', 'expect', 'host', 'content-length', 'http2-settings',
]);

/**
 * Trace context copied verbatim would make shadow spans look like children of production's trace;
 * the `x-request-id` we add is the link between the two.
 */
const TRACE_HEADERS = ['traceparent', 'tracestate', 'b3', 'x-b3-traceid', 'x-b3-spanid', 'x-b3-parentspanid', 'x-b3-sampled', 'x-b3-flags'];

/**
 * The request headers never forwarded, decided once per middleware: hop-by-hop, trace context, `stripHeaders`, and
 * the credentials `withheld` (the default rules minus `forwardCredentials`).
 */
export function droppedHeaderSet(withheld: NameMatcher, stripHeaders: ReadonlySet<string>): NameMatcher {
  const fixed = new Set([...HOP_BY_HOP, ...TRACE_HEADERS, ...stripHeaders]);
  return { has: (name: string) => fixed.has(name) || withheld.has(name) };
}

/**
 * Headers for the shadow request: the client's, minus hop-by-hop ones (and every header `Connection` names),
 * dropped ones and `content-encoding` when the body was re-serialised; plus our id and marker, first (the client's
 * own `x-request-id` is not forwarded). URLs inside the
 * values (`Referer`, say) lose their userinfo and the query parameters `withheldQuery` names, as the
 * request-target does. `content-length` is set from the exact bytes sent.
 */
export function shadowRequestHeaders(
  incoming: IncomingHttpHeaders,
  dropped: NameMatcher,
  requestId: string,
  body: Buffer | undefined,
  bodyWasReserialised: boolean,
  withheldQuery?: NameMatcher,
): HeaderMap {
  const namedByConnection = connectionTokens(incoming.connection);
  // Ours first: a server that keeps only the first 1,000 or so header fields (Node) still gets the id and framing.
  const headers: HeaderMap = { 'x-request-id': requestId, 'x-shadow-request': '1' };
  if (body !== undefined) headers['content-length'] = String(body.length);
  // No entries array, no closure, no empty Set per request: this runs for every mirrored request. Own keys only
  // (not for-in): a property someone put on Object.prototype must never become a header.
  for (const name of Object.keys(incoming)) {
    const value = incoming[name];
    if (value === undefined || dropped.has(name) || (namedByConnection !== undefined && namedByConnection.has(name)) || OURS.has(name)) continue;
    if (bodyWasReserialised && name === 'content-encoding') continue;
    headers[name] = Array.isArray(value) ? value.map((text) => withoutWithheld(text, withheldQuery)) : withoutWithheld(value, withheldQuery);
  }
  return headers;
}

function withoutWithheld(text: string, withheldQuery: NameMatcher | undefined): string {
  return withheldQuery ? removeQueryParams(text, withheldQuery) : text;
}

/** Headers the mirror sets itself (`content-length` is hop-by-hop, dropped above). */
const OURS = new Set(['x-request-id', 'x-shadow-request']);

/** The header names a `Connection` header lists (hop-by-hop by its say), or undefined when it lists none. */
function connectionTokens(connection: string | undefined): Set<string> | undefined {
  if (!connection) return undefined;
  const tokens = new Set<string>();
  for (const token of connection.split(',')) {
    const name = token.trim().toLowerCase();
    if (name) tokens.add(name);
  }
  return tokens;
}

/** Which headers go into the log: all, none, or a list. */
export type HeaderLogPolicy = { kind: 'all' } | { kind: 'none' } | { kind: 'only'; names: ReadonlySet<string> };

/**
 * A copy of headers for the log, with the values of `redacted` names replaced, credentials in URLs inside the
 * other values masked by `redactQuery` (`Location`, `Referer`, `Link`... any value), and the rest through `maskText`
 * (value masking) when given. Never the live object.
 */
export function headersForLog(
  headers: IncomingHttpHeaders | OutgoingHttpHeaders,
  redacted: NameMatcher,
  policy: HeaderLogPolicy = { kind: 'all' },
  maskText?: (text: string) => string,
  redactQuery?: NameMatcher,
): HeaderMap {
  const copy: HeaderMap = {};
  if (policy.kind === 'none') return copy;
  // A loop over keys, no entries or closures: this runs three times per mirrored request.
  for (const name of Object.keys(headers)) {
    const value = (headers as Record<string, unknown>)[name];
    if (value === undefined) continue;
    const key = name.toLowerCase();
    if (policy.kind === 'only' && !policy.names.has(key)) continue;
    if (redacted.has(key)) copy[key] = '[REDACTED]';
    else if (Array.isArray(value)) copy[key] = value.map((item) => loggedHeaderValue(item, maskText, redactQuery));
    else copy[key] = loggedHeaderValue(value, maskText, redactQuery);
  }
  return copy;
}

function loggedHeaderValue(item: unknown, maskText: ((text: string) => string) | undefined, redactQuery: NameMatcher | undefined): string {
  const text = redactQuery ? maskQuery(String(item), redactQuery) : String(item);
  return maskText ? maskText(text) : text;
}
