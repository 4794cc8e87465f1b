/**
 * Request IDs tie a production record to its shadow record. A client's `x-request-id` is reused only when it is
 * short and plain (it ends up in headers and logs); anything else is replaced by a fresh time-ordered UUID v7.
 */
import { v7 as uuidv7 } from 'uuid';

const VALID_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export function isValidRequestId(value: unknown): value is string {
  return typeof value === 'string' && VALID_REQUEST_ID.test(value);
}

export function requestIdFor(incoming: string | string[] | undefined): string {
  return isValidRequestId(incoming) ? incoming : uuidv7();
}
