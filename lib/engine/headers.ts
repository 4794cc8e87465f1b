/**
 * Headers of the shadow request and of logged messages.
 */
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import type { HeaderMap } from '../types.js';

/** Hop-by-hop headers (RFC 9110 §7.6.1) and others that describe one connection, not the message. */
const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade',
  'proxy-authorization', 'proxy-authenticate', 'expect', 'host', 'content-length', 'http2-settings',
]);

/** Credentials a shadow in another trust zone should not see unless `forwardCredentials` is set. */
export const CREDENTIAL_HEADERS = ['authorization', 'cookie', 'x-api-key'];

/**
 * Trace context copied verbatim would make shadow spans look like children of production's trace;
 * the `x-request-id` we add is the link between the two.
 */
export const TRACE_HEADERS = ['traceparent', 'tracestate', 'b3', 'x-b3-traceid', 'x-b3-spanid', 'x-b3-parentspanid', 'x-b3-sampled', 'x-b3-flags'];

/** The set of request headers never forwarded, computed once per middleware. */
export function droppedHeaderSet(forwardCredentials: boolean, stripHeaders: ReadonlySet<string>): ReadonlySet<string> {
  const dropped = new Set([...HOP_BY_HOP, ...TRACE_HEADERS, ...stripHeaders]);
  if (!forwardCredentials) for (const name of CREDENTIAL_HEADERS) dropped.add(name);
  return dropped;
}

/**
 * Headers for the shadow request: the client's, minus hop-by-hop ones (and every header `Connection` names),
 * dropped ones and `content-encoding` when the body was re-serialised; plus our id and marker.
 * `content-length` is set from the exact bytes sent.
 */
export function shadowRequestHeaders(
  incoming: IncomingHttpHeaders,
  dropped: ReadonlySet<string>,
  requestId: string,
  body: Buffer | undefined,
  bodyWasReserialised: boolean,
): HeaderMap {
  const namedByConnection = connectionTokens(incoming.connection);
  const headers: HeaderMap = {};
  for (const [name, value] of Object.entries(incoming)) {
    if (value === undefined || dropped.has(name) || namedByConnection.has(name)) continue;
    if (bodyWasReserialised && name === 'content-encoding') continue;
    headers[name] = value;
  }
  headers['x-request-id'] = requestId;
  headers['x-shadow-request'] = '1';
  if (body !== undefined) headers['content-length'] = String(body.length);
  return headers;
}

function connectionTokens(connection: string | undefined): Set<string> {
  const tokens = new Set<string>();
  if (!connection) return tokens;
  for (const token of connection.split(',')) {
    const name = token.trim().toLowerCase();
    if (name) tokens.add(name);
  }
  return tokens;
}

/** Which headers go into the log: all, none, or a list. */
export type HeaderLogPolicy = { kind: 'all' } | { kind: 'none' } | { kind: 'only'; names: ReadonlySet<string> };

/** A copy of headers for the log, with sensitive values replaced. Never the live object. */
export function headersForLog(
  headers: IncomingHttpHeaders | OutgoingHttpHeaders,
  redacted: ReadonlySet<string>,
  policy: HeaderLogPolicy = { kind: 'all' },
): HeaderMap {
  const copy: HeaderMap = {};
  if (policy.kind === 'none') return copy;
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    const key = name.toLowerCase();
    if (policy.kind === 'only' && !policy.names.has(key)) continue;
    if (redacted.has(key)) copy[key] = '[REDACTED]';
    else copy[key] = Array.isArray(value) ? value.map(String) : String(value);
  }
  return copy;
}
