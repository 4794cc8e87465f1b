/**
 * Preparing a call: the request as the shadow gets it, from the exchange the tap handed off. The exact bytes the
 * client sent (content-encoding kept), the headers minus what is withheld, and the body decoded once for the hooks
 * and the log. Synchronous unless the body must be inflated, so preparing stays within one slice of the engine's loop.
 */
import type { ResolvedOptions } from './config.js';
import type { ShadowRequest } from '../types.js';
import { asBuffer, headerString } from './answers.js';
import type { Exchange } from './exchange.js';
import type { NameMatcher } from './credentials.js';
import { shadowRequestHeaders } from './headers.js';
import { decodeBody, decodeContent, type DecodedBody, type DecodedContent } from './logged-body.js';

export interface PreparedRequest {
  request: ShadowRequest;
  /** The body decoded for the log (and for `request.json`). */
  requestBody: DecodedBody;
  /** The raw bytes, when the exchange had any. */
  body: Buffer | undefined;
}

export function prepareShadowRequest(
  exchange: Exchange & { requestId: string },
  shadowPath: string,
  droppedHeaders: NameMatcher,
  config: Pick<ResolvedOptions, 'maxShadowResponseBytes' | 'secrets'>,
): PreparedRequest | Promise<PreparedRequest> {
  const body = exchange.body === undefined ? undefined : asBuffer(exchange.body);
  const bodyBytes = body ?? Buffer.alloc(0);
  const content = decodeContent(bodyBytes, headerString(exchange.headers['content-encoding']), config.maxShadowResponseBytes);
  const build = (decoded: DecodedContent): PreparedRequest => {
    const requestBody = decodeBody(decoded.bytes, decoded.bytes.length, decoded.cut, headerString(exchange.headers['content-type']));
    const hasBody = bodyBytes.length > 0 || hasDeclaredBody(exchange.headers, exchange.method);
    const request: ShadowRequest = {
      requestId: exchange.requestId,
      method: exchange.method,
      path: shadowPath,
      headers: shadowRequestHeaders(exchange.headers, droppedHeaders, exchange.requestId, hasBody ? bodyBytes : undefined, exchange.bodySource === 'parsed', config.secrets.withheldQuery),
      body: hasBody ? bodyBytes : undefined,
      ...(requestBody.isJson ? { json: requestBody.json } : {}),
    };
    return { request, requestBody, body };
  };
  return content instanceof Promise ? content.then(build) : build(content);
}

/**
 * A request carries a body when it has bytes, or declares one other than an empty one on a GET/HEAD (those are
 * mirrored without a body: `content-length: 0` on a GET is the client's habit, not a body).
 */
function hasDeclaredBody(headers: Exchange['headers'], method: string): boolean {
  if (headers['transfer-encoding'] !== undefined) return method !== 'GET' && method !== 'HEAD';
  const length = headers['content-length'];
  if (length === undefined) return false;
  if (method === 'GET' || method === 'HEAD') return false;
  return true;
}
