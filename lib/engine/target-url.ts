/**
 * Where a shadow request goes. The host is fixed by configuration; nothing a client sends can change it
 * (protocol-relative `//host` paths, backslashes, encoded slashes and absolute-form request targets included).
 */
import { ShadowOptionsError, showValue } from '../errors.js';

export interface ParsedTarget {
  /** `http://host:port`, no trailing slash. */
  origin: string;
  /** Base path of the target without its trailing slash: `''` or `/v2`. */
  basePath: string;
  protocol: 'http:' | 'https:';
  /** The target as shown in records and stats. */
  display: string;
}

export function parseTarget(value: unknown, option = 'target'): ParsedTarget {
  let url: URL;
  try {
    if (typeof value !== 'string') throw new Error('not a string');
    url = new URL(value);
  } catch {
    throw new ShadowOptionsError(option, `must be an absolute http(s) URL like 'http://127.0.0.1:9000', got ${showValue(value)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ShadowOptionsError(option, `must use http: or https:, got ${showValue(value)}`);
  }
  if (url.username || url.password) {
    throw new ShadowOptionsError(option, `must not carry credentials in the URL (they would be logged); inject them with a header instead`);
  }
  if (url.search || url.hash) {
    throw new ShadowOptionsError(option, `must not have a query or fragment (the request's own query is appended), got ${showValue(value)}`);
  }
  const basePath = url.pathname.replace(/\/+$/, '');
  return { origin: url.origin, basePath, protocol: url.protocol, display: url.origin + basePath };
}

/**
 * The shadow URL for a request target (`req.originalUrl`), or `undefined` when it cannot be mirrored safely.
 * Built by string concatenation, never `new URL(path, base)`, which lets `//evil.example` pick the host.
 */
export function shadowUrlFor(target: ParsedTarget, requestTarget: string): URL | undefined {
  const pathAndQuery = originFormOf(requestTarget);
  if (pathAndQuery === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(target.origin + target.basePath + pathAndQuery);
  } catch {
    return undefined;
  }
  // Belt and braces: whatever the parser made of the path, the origin must be the configured one,
  // and dot segments (`/../`, `%2e%2e`) must not climb out of the target's base path.
  if (url.origin !== target.origin) return undefined;
  if (target.basePath && url.pathname !== target.basePath && !url.pathname.startsWith(target.basePath + '/')) return undefined;
  return url;
}

/** Reduces a request target to origin form (`/path?query`). Absolute-form targets keep only their path and query. */
function originFormOf(requestTarget: string): string | undefined {
  if (requestTarget.startsWith('/')) return requestTarget;
  if (/^https?:\/\//i.test(requestTarget)) {
    try {
      const absolute = new URL(requestTarget);
      return absolute.pathname + absolute.search;
    } catch {
      return undefined;
    }
  }
  // `*` (OPTIONS *), authority form (CONNECT) and anything else are not mirrored.
  return undefined;
}

/**
 * The request-target sent to the shadow: the target's base path and the client's path and query exactly as
 * received (no dot-segment resolution, no re-encoding), once `shadowUrlFor` has accepted them.
 */
export function rawShadowPath(target: ParsedTarget, requestTarget: string): string | undefined {
  if (!requestTarget.startsWith('/')) return undefined;
  return target.basePath + requestTarget;
}
