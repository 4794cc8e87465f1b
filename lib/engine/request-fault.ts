/**
 * Request faults: shadow calls that failed because of the request's shape, not because of the model. They are
 * recorded as such (`requestFault: true` on the shadow record), never held against the target by the breaker, and
 * the report keeps them out of its criteria and shows them on their own. Two kinds:
 * - a request the engine could not send (a header section over the limit once our headers are added, a header
 *   value or target Node refuses, a `transformRequest` that threw): the dispatcher's outcome says so;
 * - an answer that is the shadow's HTTP server refusing the request's shape before any model saw it: 413 (content
 *   too large), 414 (URI too long), 431 (header fields too large), and 400 with `Connection: close`, the way HTTP
 *   servers and proxies answer a request they cannot parse (Node, nginx, gunicorn's field limits, uvicorn). A 400
 *   that keeps the connection open is the application's answer (a model rejecting its input): a model error,
 *   compared like any other answer.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { ShadowOutcome } from './dispatch.js';

/** Statuses that only ever describe the request's shape. */
const SHAPE_STATUSES = new Set([413, 414, 431]);

function isRequestFaultAnswer(status: number, headers: IncomingHttpHeaders): boolean {
  if (SHAPE_STATUSES.has(status)) return true;
  return status === 400 && closesConnection(headers.connection);
}

/** Whether the outcome says the request itself was at fault (a shadow record's `requestFault`, present only when true). */
export function isRequestFault(outcome: ShadowOutcome): boolean {
  return outcome.ok ? isRequestFaultAnswer(outcome.status, outcome.headers) : outcome.requestFault === true;
}

function closesConnection(connection: string | string[] | undefined): boolean {
  const values = Array.isArray(connection) ? connection : connection === undefined ? [] : [connection];
  return values.some((value) => value.split(',').some((token) => token.trim().toLowerCase() === 'close'));
}
