/**
 * Numbers compared as the JSON text wrote them. `JSON.parse` rounds every number to a double, so 9007199254740993 and
 * 9007199254740992 (or two 20-digit decimals) parse equal. The comparator notes where two numbers were equal as doubles
 * but might not be in the text (not safe integers), once it has seen, at the first such number, that one side's text
 * has a run of 16 or more digits (fewer always round-trip through a double); then both texts are parsed again with
 * `lossless-json`, which keeps each number's text, and those places compared exactly. So the common answer pays one
 * `typeof` per equal number and at most one scan of its bytes, nothing more. */
import { isLosslessNumber, parse } from 'lossless-json';
import type { PathSegment } from '../json-path.js';

/** A run of 16 or more digits, a decimal point allowed among them: the only numbers a double may hold inexactly. */
const LONG_DIGITS = /\d(?:\.?\d){15}/;

/**
 * Whether a JSON text may hold a number a double cannot (a run of 16 or more digits). Digits are ASCII, so the bytes
 * are read as latin1: no UTF-8 decoding for the common answer that has none.
 */
export function hasLongDigitRun(bytes: Buffer): boolean {
  return LONG_DIGITS.test(bytes.toString('latin1'));
}

/** At most this many places are checked in one comparison (a document of a million equal floats stays bounded). */
export const MAX_EXACT_CHECKS = 10_000;

/** Where two numbers were equal as doubles, and the double. */
export interface Suspect {
  path: PathSegment[];
  value: number;
}

/** A place where the texts differ: each side's number as written. */
export interface InexactEquality {
  path: PathSegment[];
  production: string;
  shadow: string;
}

/**
 * The places among `suspects` where the two texts hold different numbers. A place whose re-parsed value is not the
 * number the comparator saw (a `transformResponse` changed the parsed answer) is left as the comparator found it.
 */
export function exactNumberDifferences(productionText: string, shadowText: string, suspects: readonly Suspect[]): InexactEquality[] {
  if (suspects.length === 0) return [];
  let production: unknown;
  let shadow: unknown;
  try {
    production = parse(productionText);
    shadow = parse(shadowText);
  } catch {
    return [];
  }
  const found: InexactEquality[] = [];
  for (const { path, value } of suspects) {
    const left = at(production, path);
    const right = at(shadow, path);
    if (!isLosslessNumber(left) || !isLosslessNumber(right)) continue;
    if (Number(left.value) !== value || Number(right.value) !== value) continue;
    if (canonicalNumber(left.value) !== canonicalNumber(right.value)) found.push({ path, production: left.value, shadow: right.value });
  }
  return found;
}

function at(value: unknown, path: readonly PathSegment[]): unknown {
  let node = value;
  for (const segment of path) {
    if (typeof node !== 'object' || node === null) return undefined;
    node = (node as Record<string | number, unknown>)[segment];
  }
  return node;
}

const NUMBER = /^(-?)(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/;

/** A JSON number's value as text, the same for every spelling of it: `1.50e2`, `150` and `150.0` all give `15e1`. */
export function canonicalNumber(text: string): string {
  const parts = NUMBER.exec(text);
  if (!parts) return text;
  const [, sign, whole, fraction = '', exponent = '0'] = parts;
  let digits = `${whole}${fraction}`.replace(/^0+/, '');
  if (digits.length === 0) return '0';
  let power = BigInt(exponent) - BigInt(fraction.length);
  const trimmed = digits.replace(/0+$/, '');
  power += BigInt(digits.length - trimmed.length);
  digits = trimmed;
  return `${sign}${digits}e${power}`;
}
