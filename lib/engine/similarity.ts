/**
 * Text similarity measures for generated answers: pure functions from two texts to a score in [0, 1] (1: the same
 * after normalisation). They run in the engine for every compared answer that has a text path, so each is linear or
 * bit-parallel: a 2,000-word pair costs well under the 2 ms the engine allows it (bench/similarity.ts).
 *
 * Libraries: `fastest-levenshtein` (Myers' bit-parallel edit distance) does the edit distance. ROUGE-L and token F1
 * are written here because of a measured cost: `js-rouge` (the maintained ROUGE package, promptfoo's) took 4.6 ms for
 * a 200-word pair and 227 ms for a 2,000-word pair (its Penn Treebank tokenizer and an O(n·m) LCS table), against
 * 0.1 and 1.2 ms here with a bit-parallel LCS (Hyyrö 2004) over interned tokens (bench/similarity.ts, one run).
 */
import { distance } from 'fastest-levenshtein';
import type { SimilarityMeasure } from '../types.js';

/** The measures `compare.similarity` accepts. */
export const MEASURES: readonly SimilarityMeasure[] = ['rouge-l', 'token-f1', 'levenshtein'];

/** What is folded away before texts are measured. */
export interface TextNormalization {
  /** Lower-case both texts. */
  case: boolean;
  /** Drop punctuation (Unicode `P` categories), so "Paris." and "Paris" are the same word. */
  punctuation: boolean;
  /** Collapse runs of whitespace to one space and trim (matters to `levenshtein`; token measures split on it anyway). */
  whitespace: boolean;
  /** Unicode normalisation form, or false to compare code units as they are. */
  unicode: 'NFC' | 'NFKC' | false;
}

export const DEFAULT_NORMALIZATION: Readonly<TextNormalization> = Object.freeze({ case: true, punctuation: true, whitespace: true, unicode: 'NFC' });

/** Past this many UTF-16 units on either side, `levenshtein` counts edits of words instead of characters. */
export const LEVENSHTEIN_MAX_CHARS = 1000;

/**
 * `rouge-l` and word-level `levenshtein` look at the first this many words of each side: their cost grows with the
 * product of the lengths, and 5,000 words (about ten pages) keeps the worst case near 3 ms.
 */
export const MAX_ORDERED_TOKENS = 5000;

const PUNCTUATION = /\p{P}+/gu;
// Without the `u` flag: the same matches for \s (which is Unicode-aware either way), about ten times faster.
const WHITESPACE = /\s+/g;
/** Words (letters, marks, digits, joined by an apostrophe), each Han/kana/Thai character alone, any other symbol alone. */
const TOKEN = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Thai}]|[\p{L}\p{M}\p{N}]+(?:['’][\p{L}\p{M}\p{N}]+)*|[^\s\p{L}\p{M}\p{N}]/gu;

/** The text as it is measured. */
export function normalizeText(text: string, normalization: Readonly<TextNormalization>): string {
  let out = normalization.unicode ? text.normalize(normalization.unicode) : text;
  if (normalization.case) out = out.toLowerCase();
  if (normalization.punctuation) out = out.replace(PUNCTUATION, ' ');
  if (normalization.whitespace) out = out.replace(WHITESPACE, ' ').trim();
  return out;
}

/** Words of a normalised text (see `TOKEN`). */
export function tokenize(normalized: string): string[] {
  return normalized.match(TOKEN) ?? [];
}

/** Both sides' tokens as small integers, the same word the same number. */
function intern(a: readonly string[], b: readonly string[]): { a: Int32Array; b: Int32Array; symbols: number } {
  const ids = new Map<string, number>();
  const toIds = (tokens: readonly string[]): Int32Array => {
    const out = new Int32Array(tokens.length);
    for (let i = 0; i < tokens.length; i++) {
      const token = tokens[i] as string;
      let id = ids.get(token);
      if (id === undefined) {
        id = ids.size;
        ids.set(token, id);
      }
      out[i] = id;
    }
    return out;
  };
  const first = toIds(a);
  return { a: first, b: toIds(b), symbols: ids.size };
}

/** Token F1 (SQuAD's): the harmonic mean of precision and recall of the multiset of words. Order does not count. */
export function tokenF1(production: readonly string[], shadow: readonly string[]): number {
  if (production.length === 0 || shadow.length === 0) return production.length === shadow.length ? 1 : 0;
  const { a, b, symbols } = intern(production, shadow);
  const counts = new Int32Array(symbols);
  for (let i = 0; i < a.length; i++) counts[a[i] as number]!++;
  let overlap = 0;
  for (let i = 0; i < b.length; i++) {
    const id = b[i] as number;
    if ((counts[id] as number) > 0) {
      counts[id]!--;
      overlap++;
    }
  }
  return (2 * overlap) / (a.length + b.length);
}

/** ROUGE-L F1: the longest common subsequence of words, as a harmonic mean of its share of each side. */
export function rougeL(production: readonly string[], shadow: readonly string[]): number {
  if (production.length === 0 || shadow.length === 0) return production.length === shadow.length ? 1 : 0;
  const { a, b, symbols } = intern(production.slice(0, MAX_ORDERED_TOKENS), shadow.slice(0, MAX_ORDERED_TOKENS));
  return (2 * lcsLength(a, b, symbols)) / (a.length + b.length);
}

let scratch = new Uint32Array(1024);

/**
 * Length of the longest common subsequence, bit-parallel (Hyyrö 2004): one bit per position of `a`, one pass of
 * ⌈|a|/32⌉ words per element of `b`, so 2,000 × 2,000 words is about 126 000 word steps instead of 4 000 000 cells.
 */
export function lcsLength(a: Int32Array, b: Int32Array, symbols: number): number {
  const words = (a.length + 31) >>> 5;
  // Masks of every symbol (bit i set where a[i] is it), then V: all ones over a.length bits.
  const need = (symbols + 1) * words;
  if (scratch.length < need) scratch = new Uint32Array(Math.max(need, scratch.length * 2));
  const masks = scratch.subarray(0, symbols * words);
  masks.fill(0);
  const inA = new Uint8Array(symbols);
  for (let i = 0; i < a.length; i++) {
    const id = a[i] as number;
    inA[id] = 1;
    masks[id * words + (i >>> 5)]! |= 1 << (i & 31);
  }
  const v = scratch.subarray(symbols * words, (symbols + 1) * words);
  v.fill(0xffffffff);
  for (let j = 0; j < b.length; j++) {
    const id = b[j] as number;
    // A word that is not in `a` leaves V as it is: (V + 0) | (V − 0).
    if (inA[id] === 0) continue;
    const base = id * words;
    // Hyyrö's form, V' = (V + (V & M)) | (V & ~M): one addition with its carry, no subtraction.
    let carry = 0;
    for (let k = 0; k < words; k++) {
      const vk = v[k] as number;
      const mask = masks[base + k] as number;
      const u = (vk & mask) >>> 0;
      const sum = vk + u + carry;
      carry = sum > 0xffffffff ? 1 : 0;
      v[k] = sum | (vk & ~mask);
    }
  }
  // Each zero bit among the first a.length bits is one element of the subsequence.
  let ones = 0;
  for (let k = 0; k < words; k++) {
    let word = v[k] as number;
    if (k === words - 1 && (a.length & 31) !== 0) word |= ~((1 << (a.length & 31)) - 1);
    ones += popcount(word >>> 0);
  }
  return words * 32 - ones;
}

function popcount(word: number): number {
  let x = word - ((word >>> 1) & 0x55555555);
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return (((x + (x >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
}

/** 1 − edit distance / length of the longer text, in characters; in words past `LEVENSHTEIN_MAX_CHARS`. */
export function levenshteinSimilarity(production: string, shadow: string): number {
  if (production.length <= LEVENSHTEIN_MAX_CHARS && shadow.length <= LEVENSHTEIN_MAX_CHARS) {
    const longer = Math.max(production.length, shadow.length);
    return longer === 0 ? 1 : 1 - distance(production, shadow) / longer;
  }
  // Each word becomes one UTF-16 unit, so the same bit-parallel distance runs over words.
  const { a, b } = intern(tokenize(production).slice(0, MAX_ORDERED_TOKENS), tokenize(shadow).slice(0, MAX_ORDERED_TOKENS));
  const longer = Math.max(a.length, b.length);
  if (longer === 0) return 1;
  return 1 - distance(unitsOf(a), unitsOf(b)) / longer;
}

/** Small integers as a string of UTF-16 units, without spreading thousands of arguments onto the stack. */
function unitsOf(ids: Int32Array): string {
  let out = '';
  for (let i = 0; i < ids.length; i += 1024) out += String.fromCharCode(...ids.subarray(i, i + 1024));
  return out;
}

/** A measure with its normalisation: two raw texts in, a score in [0, 1] out. */
export type TextMeasure = (production: string, shadow: string) => number;

export function createMeasure(measure: SimilarityMeasure, normalization: Readonly<TextNormalization>): TextMeasure {
  switch (measure) {
    case 'levenshtein':
      return (production, shadow) => levenshteinSimilarity(normalizeText(production, normalization), normalizeText(shadow, normalization));
    case 'token-f1':
      return (production, shadow) => tokenF1(tokenize(normalizeText(production, normalization)), tokenize(normalizeText(shadow, normalization)));
    case 'rouge-l':
      return (production, shadow) => rougeL(tokenize(normalizeText(production, normalization)), tokenize(normalizeText(shadow, normalization)));
  }
}
