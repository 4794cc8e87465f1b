/**
 * Credentials in the query string (`?api_key=…&access_token=…`): masked in every logged path and removed from
 * the shadow's request-target. Both work on the request-target as received, pair by pair: only the pairs whose
 * name is a credential change, every other byte (order, encoding, `+`, empty pairs, a bare `?`) stays as it was,
 * so the shadow sees exactly what production saw minus the credentials.
 */
import type { NameMatcher } from './credentials.js';

export const QUERY_MASK = '[REDACTED]';

/**
 * The request-target with the value of every credential parameter replaced by `mask` (the name and `=` kept).
 *
 * @example
 * maskQuery('/search?q=cats&api_key=abc', matcher); // '/search?q=cats&api_key=[REDACTED]'
 */
export function maskQuery(target: string, secret: NameMatcher, mask: string = QUERY_MASK): string {
  return rewritePairs(target, secret, (name) => `${name}=${mask}`);
}

/**
 * The request-target without the credential parameters. When every pair goes, the `?` goes too.
 *
 * @example
 * removeQueryParams('/p?a=1&access_token=x&b=%20', matcher); // '/p?a=1&b=%20'
 */
export function removeQueryParams(target: string, secret: NameMatcher): string {
  return rewritePairs(target, secret, () => undefined);
}

/**
 * `text` (a form body or a query without the `?`) with each pair whose name `secret` holds rewritten by `replace`
 * (given the raw name), or dropped when it returns `undefined`. Also used for urlencoded bodies in the log.
 */
export function rewriteFormPairs(text: string, secret: NameMatcher, replace: (rawName: string) => string | undefined): string {
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

function rewritePairs(target: string, secret: NameMatcher, replace: (rawName: string) => string | undefined): string {
  const question = target.indexOf('?');
  if (question === -1) return target;
  const query = target.slice(question + 1);
  const rewritten = rewriteFormPairs(query, secret, replace);
  if (rewritten === query) return target;
  return rewritten.length === 0 ? target.slice(0, question) : `${target.slice(0, question + 1)}${rewritten}`;
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
