/**
 * Request ids tie a production record to its shadow records. The key of the records is always an id we made
 * (uuid v7, time-ordered), so two clients sending the same `x-request-id` can never have their records joined;
 * the client's (or the app's) own id is kept beside it as `clientRequestId` when it is short and plain.
 * Ids are made only for requests that need one, with random bytes drawn from a pooled buffer.
 */
import type { IncomingMessage } from 'node:http';
import { newRequestId } from '../request-id.js';

const VALID_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
/**
 * The ids made for requests, beside them rather than on them: behind Express 5 (not 4), every request object has a
 * hidden class of its own, so each property read or added on it misses V8's inline caches (a lookup, and for an
 * addition a new hidden class, about 1 KB). A lookup here costs neither.
 */
const idsByRequest = new WeakMap<IncomingMessage, RequestIds>();

export interface RequestIds {
  requestId: string;
  clientRequestId: string | undefined;
}

export interface RequestIdSource {
  /** Header holding the client's id. */
  requestIdHeader: string;
  /** The app's own id for the request (pino-http's `req.id`, say). */
  requestId: ((req: IncomingMessage) => unknown) | undefined;
}

/**
 * Whether a client's (or the app's) request id is kept as `clientRequestId`: 1 to 128 characters of
 * `[A-Za-z0-9._:-]`. Anything else never reaches headers or logs.
 *
 * @example
 * ```ts
 * import { isValidRequestId } from 'express-shadow';
 *
 * isValidRequestId('req-42'); // true
 * isValidRequestId('a\r\nInjected: header'); // false
 * ```
 */
export function isValidRequestId(value: unknown): value is string {
  return typeof value === 'string' && VALID_REQUEST_ID.test(value);
}

/** The app's or the client's id for the request, when it is one we can log and forward safely. */
export function clientRequestIdOf(req: IncomingMessage, source: RequestIdSource, headers: IncomingMessage['headers'] = req.headers): string | undefined {
  let given: unknown;
  try {
    given = source.requestId ? source.requestId(req) : headers[source.requestIdHeader];
  } catch {
    return undefined;
  }
  if (typeof given === 'number') given = String(given);
  return isValidRequestId(given) ? given : undefined;
}

/** The id already made for this request (the app asked for it), if any: otherwise the engine makes one. */
export function assignedRequestId(req: IncomingMessage): string | undefined {
  return idsByRequest.get(req)?.requestId;
}

/** The ids of a request, made on first use and kept for the rest of its life. */
export function requestIdsOf(req: IncomingMessage, source?: RequestIdSource): RequestIds {
  const known = idsByRequest.get(req);
  if (known) return known;
  const ids = { requestId: newRequestId(), clientRequestId: source ? clientRequestIdOf(req, source) : undefined };
  idsByRequest.set(req, ids);
  return ids;
}

/**
 * The id under which express-shadow logs this request (`requestId` in its records), for the app to log or return.
 * Call it from a handler after the middleware ran; the same request always gives the same id.
 *
 * @example
 * app.post('/predict', shadow, (req, res) => {
 *   res.set('x-shadow-id', shadowRequestId(req)).json(predict(req.body));
 * });
 */
export function shadowRequestId(req: IncomingMessage): string {
  return requestIdsOf(req).requestId;
}
