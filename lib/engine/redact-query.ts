/**
 * Credentials in URLs: masked in every logged value and removed from what the shadow is sent. The same rules apply
 * to every URL-shaped value, wherever it sits: the request-target (origin or absolute form), and URLs inside header
 * values (`Referer`, `Location`, `Content-Location`, `Link`, `Refresh`, any header). What counts:
 * - the userinfo of an authority (`https://user:password@host`): always a credential, whatever its name;
 * - pairs of a query (`?api_key=…&access_token=…`) or of a fragment (`#access_token=…`, OAuth's implicit flow) whose
 *   name is a credential (credentials.ts). A `?` inside a query starts a new query, so a URL pasted unencoded into
 *   a parameter (`?next=/cb?token=…`) is read too.
 * Only what matches changes: every other byte (order, encoding, `+`, empty pairs, a bare `?`) stays as it was, so
 * the shadow sees exactly what production saw minus the credentials. Scanning is linear (no backtracking regex):
 * header values and request-targets come from clients.
 */
import type { NameMatcher } from './credentials.js';

const QUERY_MASK = '[REDACTED]';

/**
 * `text` (a request-target, a header value) with every credential in its URLs masked: userinfo becomes `mask`, a
 * credential pair keeps its name and `=`.
 *
 * @example
 * maskQuery('/search?q=cats&api_key=abc', matcher); // '/search?q=cats&api_key=[REDACTED]'
 * maskQuery('http://ada:pw@host/p#access_token=x', matcher); // 'http://[REDACTED]@host/p#access_token=[REDACTED]'
 */
export function maskQuery(text: string, secret: NameMatcher, mask: string = QUERY_MASK): string {
  return rewriteUrls(text, secret, (name) => `${name}=${mask}`, `${mask}@`);
}

/**
 * `text` without the credentials in its URLs: userinfo and credential pairs removed. When every pair of a query
 * goes, its `?` goes too.
 *
 * @example
 * removeQueryParams('/p?a=1&access_token=x&b=%20', matcher); // '/p?a=1&b=%20'
 */
export function removeQueryParams(text: string, secret: NameMatcher): string {
  return rewriteUrls(text, secret, () => undefined, '');
}

/**
 * `text` (a form body or a query without the `?`) with each pair whose name `secret` holds rewritten by `replace`
 * (given the raw name), or dropped when it returns `undefined`. Also used for urlencoded bodies in the log.
 */
function rewriteFormPairs(text: string, secret: NameMatcher, replace: (rawName: string) => string | undefined): string {
  if (text.length === 0) return text;
  let changed = false;
  const kept: string[] = [];
  for (const pair of text.split('&')) {
    const equals = pair.indexOf('=');
    const rawName = equals === -1 ? pair : pair.slice(0, equals);
    if (rawName.length === 0 || !secret.has(decodeFormName(rawName))) {
      kept.push(pair);
      continue;
    }
    changed = true;
    const replaced = replace(rawName);
    if (replaced !== undefined) kept.push(replaced);
  }
  return changed ? kept.join('&') : text;
}

/** Ends a query or fragment inside a longer text: a new `?` or `#`, white space, or the quotes and brackets around a URL. */
const SEGMENT_END = new Set(['?', '#', ' ', '\t', '\r', '\n', '<', '>', '"', "'"]);
/** Ends an authority: the start of its path, query or fragment, or the end of the URL in a longer text. */
const AUTHORITY_END = new Set(['/', '?', '#', '\\', ' ', '\t', '\r', '\n', '<', '>', '"', "'"]);

function rewriteUrls(text: string, secret: NameMatcher, replace: (rawName: string) => string | undefined, userinfo: string): string {
  const hasAuthority = text.includes('://');
  if (!hasAuthority && !text.includes('?') && !text.includes('#')) return text;
  const withoutUserinfo = hasAuthority ? rewriteUserinfo(text, userinfo) : text;
  return rewriteSegments(withoutUserinfo, secret, replace);
}

/** Each `scheme://user:password@host` with its userinfo replaced by `replacement` (which ends in `@`, or is empty). */
function rewriteUserinfo(text: string, replacement: string): string {
  let out = '';
  let from = 0;
  for (let slashes = text.indexOf('://'); slashes !== -1; slashes = text.indexOf('://', slashes + 3)) {
    const start = slashes + 3;
    let end = start;
    while (end < text.length && !AUTHORITY_END.has(text[end]!)) end++;
    const at = text.lastIndexOf('@', end - 1);
    if (at < start) continue;
    out += text.slice(from, start) + replacement;
    from = at + 1;
    slashes = end - 3;
  }
  return from === 0 ? text : out + text.slice(from);
}

/** Each query and fragment of `text` with its credential pairs rewritten; a query or fragment left empty loses its `?` or `#`. */
function rewriteSegments(text: string, secret: NameMatcher, replace: (rawName: string) => string | undefined): string {
  let out = '';
  let from = 0;
  let index = 0;
  while (index < text.length) {
    const char = text[index]!;
    if (char !== '?' && char !== '#') {
      index++;
      continue;
    }
    let end = index + 1;
    while (end < text.length && !SEGMENT_END.has(text[end]!)) end++;
    const segment = text.slice(index + 1, end);
    // A fragment is read as pairs only when it looks like them (`#section` is a fragment, not a parameter).
    const rewritten = char === '#' && !segment.includes('=') ? segment : rewriteFormPairs(segment, secret, replace);
    if (rewritten !== segment) {
      out += text.slice(from, index) + (rewritten.length === 0 ? '' : char + rewritten);
      from = end;
    }
    index = end;
  }
  return from === 0 ? text : out + text.slice(from);
}

/** A name as a server would read it: `+` is a space, `%5F` is `_`. Malformed escapes are read as written. */
export function decodeFormName(rawName: string): string {
  const spaced = rawName.replace(/\+/g, ' ');
  try {
    return decodeURIComponent(spaced);
  } catch {
    return spaced;
  }
}
