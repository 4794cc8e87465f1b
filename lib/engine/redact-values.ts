/**
 * Masking by value (`redactValues`): card numbers, email addresses and JWTs found anywhere in logged text, whatever
 * field or header they sit in. Each scanner is linear in the text (no backtracking pattern can be driven quadratic
 * by a hostile body: every match must start at a word boundary, and emails are found from their `@`).
 */

/** The kinds `redactValues` accepts. */
export type ValueKind = 'card' | 'email' | 'jwt';

export const VALUE_KINDS: readonly ValueKind[] = Object.freeze(['card', 'email', 'jwt']);

/** What a masked value becomes: the kind is kept so a reader knows what was there. */
function valueMask(kind: ValueKind): string {
  return `[REDACTED:${kind}]`;
}

/** Rewrites text with values masked; identity when no kind is on. */
export type TextMasker = (text: string) => string;

// 13 to 19 digits, single spaces or hyphens allowed between them, not inside a longer run of digits.
const CARD_CANDIDATE = /(?<![0-9])[0-9](?:[ -]?[0-9]){12,18}(?![0-9])/g;
// Three base64url parts, the first a JSON header (`eyJ` is `{"`), not inside a longer word.
const JWT = /(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*/g;
const EMAIL_LOCAL = /[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]/;
const EMAIL_DOMAIN = /[A-Za-z0-9.-]/;
const MAX_LOCAL = 64;
const MAX_DOMAIN = 253;

/** True for a run of 13–19 digits that passes the Luhn check (separators ignored). */
export function isCardNumber(candidate: string): boolean {
  const digits = candidate.replace(/[ -]/g, '');
  if (!/^[0-9]{13,19}$/.test(digits)) return false;
  let sum = 0;
  for (let index = 0; index < digits.length; index++) {
    let digit = digits.charCodeAt(digits.length - 1 - index) - 48;
    if (index % 2 === 1) {
      digit *= 2;
      if (digit > 9) digit -= 9;
    }
    sum += digit;
  }
  return sum % 10 === 0;
}

export function maskCards(text: string): string {
  if (text.length < 13) return text;
  return text.replace(CARD_CANDIDATE, (candidate) => (isCardNumber(candidate) ? valueMask('card') : candidate));
}

export function maskJwts(text: string): string {
  if (!text.includes('eyJ')) return text;
  return text.replace(JWT, valueMask('jwt'));
}

/** Emails found from each `@`: a local part before it and a dotted domain with a letter TLD after it. */
export function maskEmails(text: string): string {
  let at = text.indexOf('@');
  if (at === -1) return text;
  let result = '';
  let copiedUpTo = 0;
  while (at !== -1) {
    let start = at;
    while (start > copiedUpTo && at - start < MAX_LOCAL && EMAIL_LOCAL.test(text[start - 1]!)) start--;
    let end = at + 1;
    while (end < text.length && end - at <= MAX_DOMAIN && EMAIL_DOMAIN.test(text[end]!)) end++;
    // The domain must end in a dot and a TLD of two or more letters; trailing dots and hyphens are not part of it.
    while (end > at + 1 && (text[end - 1] === '.' || text[end - 1] === '-')) end--;
    const domain = text.slice(at + 1, end);
    if (start < at && /\.[A-Za-z]{2,}$/.test(domain) && !domain.startsWith('.')) {
      result += text.slice(copiedUpTo, start) + valueMask('email');
      copiedUpTo = end;
    }
    at = text.indexOf('@', Math.max(at + 1, copiedUpTo));
  }
  return copiedUpTo === 0 ? text : result + text.slice(copiedUpTo);
}

const MASKERS: Record<ValueKind, TextMasker> = { card: maskCards, email: maskEmails, jwt: maskJwts };

/**
 * One function masking every kind asked for; `undefined` when none is, so callers skip the walk entirely.
 * JWTs go first: a token can hold digit runs that are not cards.
 */
export function createTextMasker(kinds: readonly ValueKind[]): TextMasker | undefined {
  if (kinds.length === 0) return undefined;
  const ordered = VALUE_KINDS.filter((kind) => kinds.includes(kind)).sort((a, b) => (a === 'jwt' ? -1 : b === 'jwt' ? 1 : 0));
  const maskers = ordered.map((kind) => MASKERS[kind]);
  return (text) => {
    let masked = text;
    for (const mask of maskers) masked = mask(masked);
    return masked;
  };
}

/** For JSON walks: strings through the text masker, and numbers that are card numbers masked too. */
export function scalarMasker(mask: TextMasker, kinds: readonly ValueKind[]): (value: string | number) => unknown {
  const cards = kinds.includes('card');
  return (value) => {
    if (typeof value === 'string') return mask(value);
    if (cards && Number.isSafeInteger(value) && isCardNumber(String(value))) return valueMask('card');
    return value;
  };
}
