/**
 * Which header and query-parameter names carry credentials. The defaults are rules over the name, not a fixed
 * list, because real services invent new ones (`x-auth-token`, `x-goog-api-key`, `X-Amz-Signature`...). Users add
 * names and, only explicitly, allow ones the rules would catch. Built once per middleware; matching is a few
 * substring checks on a lower-cased name.
 */

/** A set of names, case-insensitive: what the header and query helpers ask. */
export interface NameMatcher {
  has(name: string): boolean;
}

/** Headers withheld and masked by name alone, whatever the rules below say. */
const CREDENTIAL_HEADER_NAMES: readonly string[] = Object.freeze([
  'authorization',
  'proxy-authorization',
  'cookie',
  'set-cookie',
  'x-amz-security-token',
  'x-goog-api-key',
  'ocp-apim-subscription-key',
]);

/** A header or parameter whose name contains one of these carries a credential. */
const CREDENTIAL_NAME_PARTS: readonly string[] = Object.freeze([
  'token',
  'secret',
  'password',
  'passwd',
  'api-key',
  'apikey',
  'api_key',
  'session',
  'signature',
  'credential',
]);

/** Query parameters that are credentials by their whole name (short names that would match too much as parts). */
const CREDENTIAL_PARAM_NAMES: readonly string[] = Object.freeze(['key', 'sig', 'code']);

/** `auth` counts only as a word of the name: `x-auth-token`, `hmac-auth`, `auth`, but not `author` or `oauth2-state`... */
const AUTH_WORDS = new Set(['auth', 'authorization', 'authentication']);

const MAX_REMEMBERED_NAMES = 1024;

const EVERYTHING: NameMatcher = Object.freeze({ has: () => true });
const NOTHING: NameMatcher = Object.freeze({ has: () => false });

/** True when the default rules call this header name a credential. */
export function isCredentialHeaderName(name: string): boolean {
  const lower = name.toLowerCase();
  return CREDENTIAL_HEADER_NAMES.includes(lower) || hasCredentialPart(lower);
}

/** True when the default rules call this query parameter name a credential. */
export function isCredentialParamName(name: string): boolean {
  const lower = name.toLowerCase();
  return CREDENTIAL_PARAM_NAMES.includes(lower) || hasCredentialPart(lower);
}

function hasCredentialPart(lower: string): boolean {
  for (const part of CREDENTIAL_NAME_PARTS) if (lower.includes(part)) return true;
  for (const word of lower.split(/[-_.\s]+/)) if (AUTH_WORDS.has(word)) return true;
  return false;
}

/** The user's side of a name list: names added to the defaults, and default-caught names allowed through. */
export interface NameListChanges {
  add: readonly string[];
  allow: readonly string[];
}

/**
 * The defaults plus `changes.add`, minus `changes.allow`. Names compare case-insensitively.
 *
 * @example
 * const headers = createNameMatcher(isCredentialHeaderName, { add: ['x-tenant'], allow: ['x-session-region'] });
 * headers.has('X-Auth-Token'); // true (default rule)
 * headers.has('x-session-region'); // false (allowed)
 */
export function createNameMatcher(isDefault: (name: string) => boolean, changes: NameListChanges = { add: [], allow: [] }): NameMatcher {
  const added = new Set(changes.add.map((name) => name.toLowerCase()));
  const allowed = new Set(changes.allow.map((name) => name.toLowerCase()));
  // The same few header names come with every request: remember the answers, up to a bound hostile names cannot pass.
  const seen = new Map<string, boolean>();
  return Object.freeze({
    has(name: string): boolean {
      const known = seen.get(name);
      if (known !== undefined) return known;
      const lower = name.toLowerCase();
      const answer = added.has(lower) || (!allowed.has(lower) && isDefault(lower));
      if (seen.size < MAX_REMEMBERED_NAMES) seen.set(name, answer);
      return answer;
    },
  });
}

/** A matcher of exactly these names (case-insensitive). */
export function matcherOf(names: Iterable<string>): NameMatcher {
  const set = new Set([...names].map((name) => name.toLowerCase()));
  if (set.size === 0) return NOTHING;
  return Object.freeze({ has: (name: string) => set.has(name.toLowerCase()) });
}

/** `forwardCredentials`: every credential (`true`), none (`false`), or the names listed (headers or query parameters). */
export function forwardedMatcher(forwardCredentials: boolean | readonly string[]): NameMatcher {
  if (forwardCredentials === true) return EVERYTHING;
  if (forwardCredentials === false) return NOTHING;
  return matcherOf(forwardCredentials);
}

/** Names the first matcher holds and the second does not: credentials minus those forwarded by choice. */
export function withheldMatcher(credentials: NameMatcher, forwarded: NameMatcher): NameMatcher {
  if (forwarded === EVERYTHING) return NOTHING;
  return Object.freeze({ has: (name: string) => credentials.has(name) && !forwarded.has(name) });
}

/** Names either matcher holds. */
export function eitherMatcher(first: NameMatcher, second: NameMatcher): NameMatcher {
  if (second === NOTHING) return first;
  if (first === NOTHING) return second;
  return Object.freeze({ has: (name: string) => first.has(name) || second.has(name) });
}
