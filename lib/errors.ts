/** Errors of express-shadow's own. Each has a stable `code`; docs/errors.md lists them. */

/**
 * A bad option given to `shadowMiddleware`: thrown at construction, naming the option (`option`) and the value.
 * `code` is `ERR_SHADOW_OPTIONS`. It extends `TypeError`.
 *
 * @example
 * ```ts
 * import { shadowMiddleware, ShadowOptionsError } from 'express-shadow';
 *
 * try {
 *   shadowMiddleware({ target: 'http://127.0.0.1:9000', sampleRate: 2 });
 * } catch (error) {
 *   if (error instanceof ShadowOptionsError) console.error(error.option, error.message); // "sampleRate", ...
 * }
 * ```
 */
export class ShadowOptionsError extends TypeError {
  override readonly name = 'ShadowOptionsError';
  readonly code = 'ERR_SHADOW_OPTIONS';
  constructor(
    readonly option: string,
    message: string,
  ) {
    super(`express-shadow: option \`${option}\` ${message}`);
  }
}

/**
 * `shadowMiddleware` itself was mounted (`app.use(shadowMiddleware)`) instead of its result; thrown on the first
 * request. `code` is `ERR_SHADOW_USAGE`.
 *
 * @example
 * ```ts nocheck
 * app.use(shadowMiddleware); // throws ShadowUsageError: call it with options
 * app.use(shadowMiddleware({ target: 'http://127.0.0.1:9000' })); // right
 * ```
 */
export class ShadowUsageError extends TypeError {
  override readonly name = 'ShadowUsageError';
  readonly code = 'ERR_SHADOW_USAGE';
}

/**
 * An optional peer a feature needs is not installed (`registerMetrics` without `prom-client`).
 * `code` is `ERR_SHADOW_MISSING_PEER`.
 *
 * @example
 * ```ts
 * import { shadowMiddleware, ShadowMissingPeerError } from 'express-shadow';
 *
 * const shadow = shadowMiddleware({ target: 'http://127.0.0.1:9000' });
 * try {
 *   shadow.registerMetrics();
 * } catch (error) {
 *   if (!(error instanceof ShadowMissingPeerError)) throw error; // metrics are optional here
 * }
 * ```
 */
export class ShadowMissingPeerError extends Error {
  override readonly name = 'ShadowMissingPeerError';
  readonly code = 'ERR_SHADOW_MISSING_PEER';
}

/** Shows a value in an error message without dumping a huge one. */
export function showValue(value: unknown): string {
  if (typeof value === 'function') return `a function`;
  // JSON.stringify would show NaN and Infinity as null.
  if (typeof value === 'number' || typeof value === 'bigint') return String(value);
  if (typeof value === 'string') return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
  try {
    const text = JSON.stringify(value);
    if (text === undefined) return String(value);
    return text.length > 80 ? `${text.slice(0, 80)}…` : text;
  } catch {
    return String(value);
  }
}

/** The message of anything thrown (an Error's message, or the value itself as text). */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
