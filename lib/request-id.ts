/**
 * Request IDs tie a production record to its shadow record. A client's `x-request-id` is reused only when it is
 * short and plain (it ends up in headers and logs); anything else is replaced by a fresh time-ordered UUID v7.
 */
import { v7 as uuidv7 } from 'uuid';

const VALID_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Whether a request ID would be reused as is (1 to 128 characters of `[A-Za-z0-9._:-]`); anything else is replaced by
 * a fresh UUID v7 before it reaches headers and logs.
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

export function requestIdFor(incoming: string | string[] | undefined): string {
  return isValidRequestId(incoming) ? incoming : uuidv7();
}
