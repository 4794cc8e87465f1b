/** Errors of express-shadow's own. Each has a stable `code`; README lists them. */

/** A bad option given to `shadowMiddleware`: thrown at construction, naming the option and the value. */
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

/** `shadowMiddleware` itself was mounted (`app.use(shadowMiddleware)`) instead of its result. */
export class ShadowUsageError extends TypeError {
  override readonly name = 'ShadowUsageError';
  readonly code = 'ERR_SHADOW_USAGE';
}

/** `registerMetrics` etc. need an optional peer that is not installed. */
export class ShadowMissingPeerError extends Error {
  override readonly name = 'ShadowMissingPeerError';
  readonly code = 'ERR_SHADOW_MISSING_PEER';
}

/** Shows a value in an error message without dumping a huge one. */
export function showValue(value: unknown): string {
  if (typeof value === 'function') return `a function`;
  if (typeof value === 'string') return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
  try {
    const text = JSON.stringify(value);
    if (text === undefined) return String(value);
    return text.length > 80 ? `${text.slice(0, 80)}…` : text;
  } catch {
    return String(value);
  }
}
