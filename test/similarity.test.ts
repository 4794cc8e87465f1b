import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DEFAULT_THRESHOLDS } from '../lib/engine/compare-options.js';
import { createComparator } from '../lib/engine/compare.js';
import {
  createMeasure,
  DEFAULT_NORMALIZATION,
  lcsLength,
  LEVENSHTEIN_MAX_CHARS,
  levenshteinSimilarity,
  MAX_ORDERED_TOKENS,
  normalizeText,
  rougeL,
  tokenF1,
  tokenize,
} from '../lib/engine/similarity.js';
import { ShadowOptionsError } from '../lib/errors.js';
import type { ComparedAnswer, CompareOptions, SimilarityMeasure } from '../lib/types.js';
import { seededRandom } from '../lib/report/stats/random.js';

interface Pair {
  kind: 'paraphrase' | 'wrong' | 'negation';
  production: string;
  candidate: string;
}

const { pairs } = JSON.parse(readFileSync(new URL('./fixtures/sentence-pairs.json', import.meta.url), 'utf8')) as { pairs: Pair[] };

function words(text: string): string[] {
  return tokenize(normalizeText(text, DEFAULT_NORMALIZATION));
}

/** The textbook O(n·m) table, to check the bit-parallel LCS against. */
function lcsTable(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let previous = new Int32Array(b.length + 1);
  let current = new Int32Array(b.length + 1);
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) current[j] = a[i - 1] === b[j - 1] ? previous[j - 1]! + 1 : Math.max(previous[j]!, current[j - 1]!);
    [previous, current] = [current, previous];
  }
  return previous[b.length]!;
}

describe('similarity measures on the fixed sentence pairs', () => {
  it('holds at least 30 pairs of each meaning class that matters', () => {
    expect(pairs.filter((p) => p.kind !== 'negation').length).toBeGreaterThanOrEqual(30);
    expect(pairs.filter((p) => p.kind === 'paraphrase').length).toBeGreaterThanOrEqual(15);
    expect(pairs.filter((p) => p.kind === 'wrong').length).toBeGreaterThanOrEqual(15);
  });

  it.each(['rouge-l', 'token-f1'] as const)('%s scores every paraphrase at or above its default threshold and every wrong answer below it', (measure) => {
    const score = createMeasure(measure, DEFAULT_NORMALIZATION);
    const threshold = DEFAULT_THRESHOLDS[measure];
    for (const pair of pairs.filter((p) => p.kind === 'paraphrase')) expect(score(pair.production, pair.candidate), pair.candidate).toBeGreaterThanOrEqual(threshold);
    for (const pair of pairs.filter((p) => p.kind === 'wrong')) expect(score(pair.production, pair.candidate), pair.candidate).toBeLessThan(threshold);
  });

  it.each(['rouge-l', 'token-f1'] as const)('%s separates the two classes with room to spare: the lowest paraphrase beats the highest wrong answer by at least 0.25', (measure) => {
    const score = createMeasure(measure, DEFAULT_NORMALIZATION);
    const lowestParaphrase = Math.min(...pairs.filter((p) => p.kind === 'paraphrase').map((p) => score(p.production, p.candidate)));
    const highestWrong = Math.max(...pairs.filter((p) => p.kind === 'wrong').map((p) => score(p.production, p.candidate)));
    expect(lowestParaphrase - highestWrong).toBeGreaterThanOrEqual(0.25 - 1e-9);
  });

  it.each(['rouge-l', 'token-f1', 'levenshtein'] as const)('%s cannot see a flipped meaning: negations score as high as paraphrases (what the judge hook is for)', (measure) => {
    const score = createMeasure(measure, DEFAULT_NORMALIZATION);
    const negations = pairs.filter((p) => p.kind === 'negation');
    expect(negations.length).toBeGreaterThan(0);
    for (const pair of negations) expect(score(pair.production, pair.candidate)).toBeGreaterThan(0.8);
  });

  it('token F1 ignores word order and ROUGE-L does not', () => {
    const a = words('the cat chased the dog');
    const b = words('the dog chased the cat');
    expect(tokenF1(a, b)).toBe(1);
    expect(rougeL(a, b)).toBeLessThan(1);
  });
});

describe('levenshtein for short strings', () => {
  it.each([
    ['colour', 'color'],
    ['New York City', 'new york city'],
    ['Acme Corp.', 'ACME Corp'],
    ['Jonathan Smith', 'Jonathon Smith'],
  ])('scores %j and %j above its default threshold', (production, shadow) => {
    expect(createMeasure('levenshtein', DEFAULT_NORMALIZATION)(production, shadow)).toBeGreaterThanOrEqual(DEFAULT_THRESHOLDS.levenshtein);
  });

  it.each([
    ['approved', 'declined'],
    ['Berlin', 'Munich'],
    ['cat', 'dog'],
  ])('scores %j and %j below it', (production, shadow) => {
    expect(createMeasure('levenshtein', DEFAULT_NORMALIZATION)(production, shadow)).toBeLessThan(DEFAULT_THRESHOLDS.levenshtein);
  });

  it('is fooled by a long shared prefix: two different labels after the same "category: " score high', () => {
    expect(createMeasure('levenshtein', DEFAULT_NORMALIZATION)('category: billing', 'category: shipping')).toBeGreaterThan(DEFAULT_THRESHOLDS.levenshtein);
  });

  it('is 1 − edits / longer length in characters', () => {
    expect(levenshteinSimilarity('kitten', 'sitting')).toBeCloseTo(1 - 3 / 7, 10);
  });

  it('counts edits of words once a text is longer than LEVENSHTEIN_MAX_CHARS', () => {
    const base = Array.from({ length: 400 }, (_, i) => `word${i % 50}`).join(' ');
    expect(base.length).toBeGreaterThan(LEVENSHTEIN_MAX_CHARS);
    const changed = base.split(' ');
    changed[10] = 'different';
    changed[200] = 'other';
    expect(levenshteinSimilarity(base, changed.join(' '))).toBeCloseTo(1 - 2 / 400, 10);
  });
});

describe('the bit-parallel LCS', () => {
  it('agrees with the textbook table on 2,000 random pairs of every length around the 32-bit word boundaries', () => {
    const random = seededRandom(11);
    for (let trial = 0; trial < 2000; trial++) {
      const symbols = 1 + Math.floor(random() * 8);
      const a = Int32Array.from({ length: Math.floor(random() * 140) }, () => Math.floor(random() * symbols));
      const b = Int32Array.from({ length: Math.floor(random() * 140) }, () => Math.floor(random() * symbols));
      expect(lcsLength(a, b, symbols)).toBe(lcsTable(a, b));
    }
  });

  it('measures only the first MAX_ORDERED_TOKENS words of a runaway answer', () => {
    const long = Array.from({ length: MAX_ORDERED_TOKENS * 4 }, (_, i) => `w${i}`);
    const sameStart = [...long.slice(0, MAX_ORDERED_TOKENS), ...long.slice(MAX_ORDERED_TOKENS).reverse()];
    expect(rougeL(long, sameStart)).toBe(1);
  });
});

describe('normalisation', () => {
  const score = (text: string, other: string, normalize: Partial<typeof DEFAULT_NORMALIZATION> = {}) =>
    createMeasure('levenshtein', { ...DEFAULT_NORMALIZATION, ...normalize })(text, other);

  it('folds case, punctuation, whitespace and Unicode composition by default', () => {
    expect(score('Hello,   World!', 'hello world')).toBe(1);
    expect(score('caf\u00e9', 'cafe\u0301')).toBe(1);
  });

  it.each([
    ['case', 'Hello', 'hello', { case: false }],
    ['punctuation', 'hello!', 'hello', { punctuation: false }],
    ['whitespace', 'a  b', 'a b', { whitespace: false }],
    ['unicode', 'caf\u00e9', 'cafe\u0301', { unicode: false as const }],
  ])('keeps %s when told to', (_what, text, other, normalize) => {
    expect(score(text, other)).toBe(1);
    expect(score(text, other, normalize)).toBeLessThan(1);
  });

  it('folds compatibility characters with NFKC only', () => {
    expect(score('\ufb01le', 'file')).toBeLessThan(1);
    expect(score('\ufb01le', 'file', { unicode: 'NFKC' })).toBe(1);
  });

  it('splits Han and kana into characters, so unspaced Japanese and Chinese still have words', () => {
    expect(tokenize('東京は晴れ')).toEqual(['東', '京', 'は', '晴', 'れ']);
    expect(createMeasure('rouge-l', DEFAULT_NORMALIZATION)('東京は晴れです', '東京は雨です')).toBeGreaterThan(0.6);
  });

  it('scores two empty texts 1 and an empty against a non-empty one 0', () => {
    for (const measure of ['rouge-l', 'token-f1', 'levenshtein'] as const) {
      expect(createMeasure(measure, DEFAULT_NORMALIZATION)('', '  ')).toBe(1);
      expect(createMeasure(measure, DEFAULT_NORMALIZATION)('', 'something')).toBe(0);
    }
  });
});

function jsonAnswer(json: unknown): ComparedAnswer {
  return { status: 200, headers: { 'content-type': 'application/json' }, json, isJson: true, bytes: Buffer.from(JSON.stringify(json)) };
}

function textAnswer(text: string): ComparedAnswer {
  return { status: 200, headers: { 'content-type': 'text/plain' }, isJson: false, bytes: Buffer.from(text) };
}

const paraphrase = pairs.find((p) => p.kind === 'paraphrase')!;
const wrong = pairs.find((p) => p.kind === 'wrong')!;

function chat(content: string, extra: Record<string, unknown> = {}) {
  return { id: 'x', model: 'm', choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }], ...extra };
}

describe('createComparator with similarity paths', () => {
  const options: CompareOptions = { similarity: { '$.choices[*].message.content': 'rouge-l' } };

  it('matches a reworded text and records its score, measure and threshold', () => {
    const result = createComparator(options)(jsonAnswer(chat(paraphrase.production)), jsonAnswer(chat(paraphrase.candidate)));
    expect(result.match).toBe(true);
    expect(result.differences).toEqual([]);
    expect(result.similarity).toEqual([{ path: '$.choices[0].message.content', measure: 'rouge-l', score: expect.any(Number), threshold: 0.4 }]);
    expect(result.similarity![0]!.score).toBeGreaterThanOrEqual(0.4);
  });

  it('fails a wrong text with a difference carrying both texts and the score', () => {
    const result = createComparator(options)(jsonAnswer(chat(wrong.production)), jsonAnswer(chat(wrong.candidate)));
    expect(result.match).toBe(false);
    expect(result.differences).toEqual([{ path: '$.choices[0].message.content', production: wrong.production, shadow: wrong.candidate, score: result.similarity![0]!.score }]);
  });

  it('records score 1 for identical texts', () => {
    const result = createComparator(options)(jsonAnswer(chat('same words')), jsonAnswer(chat('same words')));
    expect(result.similarity?.[0]?.score).toBe(1);
  });

  it('still compares every other path exactly', () => {
    const result = createComparator(options)(jsonAnswer(chat(paraphrase.production, { model: 'v1' })), jsonAnswer(chat(paraphrase.candidate, { model: 'v2' })));
    expect(result.match).toBe(false);
    expect(result.differences).toEqual([{ path: '$.model', production: 'v1', shadow: 'v2' }]);
    expect(result.similarity?.[0]?.score).toBeGreaterThan(0.4);
  });

  it('compares a text path exactly when one side is not a string there', () => {
    const result = createComparator(options)(jsonAnswer(chat(paraphrase.production)), jsonAnswer({ ...chat(''), choices: [{ index: 0, message: { role: 'assistant', content: null } }] }));
    expect(result.match).toBe(false);
    expect(result.similarity).toBeUndefined();
    expect(result.differences.map((d) => d.path)).toContain('$.choices[0].message.content');
  });

  it('takes a threshold per path', () => {
    const strict = createComparator({ similarity: { '$.choices[*].message.content': { measure: 'rouge-l', threshold: 0.99 } } });
    expect(strict(jsonAnswer(chat(paraphrase.production)), jsonAnswer(chat(paraphrase.candidate))).match).toBe(false);
  });

  it('takes a normalisation per path over the shared one', () => {
    const compare = createComparator({
      normalize: { case: false },
      similarity: { '$.a': { measure: 'levenshtein', threshold: 1 }, '$.b': { measure: 'levenshtein', threshold: 1, normalize: { case: true } } },
    });
    const result = compare(jsonAnswer({ a: 'Hello', b: 'Hello' }), jsonAnswer({ a: 'hello', b: 'hello' }));
    expect(result.differences.map((d) => d.path)).toEqual(['$.a']);
  });

  it('scores a whole text answer (an assembled stream) at $', () => {
    const compare = createComparator({ similarity: { $: 'token-f1' } });
    expect(compare(textAnswer(paraphrase.production), textAnswer(paraphrase.candidate)).match).toBe(true);
    const result = compare(textAnswer(wrong.production), textAnswer(wrong.candidate));
    expect(result.match).toBe(false);
    expect(result.similarity).toEqual([{ path: '$', measure: 'token-f1', score: expect.any(Number), threshold: 0.4 }]);
    expect(result.differences[0]).toMatchObject({ path: '$', production: wrong.production, shadow: wrong.candidate });
  });

  it('scores a JSON string at the root with the $ rule, and leaves a JSON object at the root to exact comparison', () => {
    const compare = createComparator({ similarity: { $: 'rouge-l' } });
    expect(compare(jsonAnswer(paraphrase.production), jsonAnswer(paraphrase.candidate)).match).toBe(true);
    expect(compare(jsonAnswer({ text: 'a' }), jsonAnswer({ text: 'b' })).match).toBe(false);
  });

  it('ignorePaths win over a similarity path', () => {
    const compare = createComparator({ ignorePaths: ['$.choices'], similarity: { '$.choices[*].message.content': 'rouge-l' } });
    const result = compare(jsonAnswer(chat(wrong.production)), jsonAnswer(chat(wrong.candidate)));
    expect(result).toEqual({ match: true, differences: [], differenceCount: 0 });
  });

  it('shows at most 1,024 characters of each text in a difference', () => {
    const long = 'alpha '.repeat(1000);
    const other = 'omega '.repeat(1000);
    const [difference] = createComparator({ similarity: { $: 'token-f1' } })(textAnswer(long), textAnswer(other)).differences;
    expect((difference!.production as string).length).toBe(1025);
    expect((difference!.production as string).endsWith('…')).toBe(true);
  });

  it('scores every element a wildcard path names, each under its own path', () => {
    const compare = createComparator({ similarity: { '$.items[*]': 'token-f1' } });
    const result = compare(jsonAnswer({ items: ['red apple', 'green pear'] }), jsonAnswer({ items: ['apple red', 'blue sky'] }));
    expect(result.similarity!.map((s) => [s.path, s.score])).toEqual([
      ['$.items[0]', 1],
      ['$.items[1]', 0],
    ]);
    expect(result.differences.map((d) => d.path)).toEqual(['$.items[1]']);
  });
});

describe('compare.similarity and compare.normalize validation', () => {
  it.each([
    ['a misspelt measure', { similarity: { $: 'rouge' } }, /option `compare\.similarity\["\$"\]` must name a measure: 'rouge-l', 'token-f1', 'levenshtein'; got "rouge"\. Did you mean 'rouge-l'\?/],
    ['a misspelt measure in a rule', { similarity: { $: { measure: 'token_f1' } } }, /option `compare\.similarity\["\$"\]\.measure` .*Did you mean 'token-f1'\?/],
    ['a threshold above 1', { similarity: { $: { measure: 'rouge-l', threshold: 1.5 } } }, /option `compare\.similarity\["\$"\]\.threshold` must be a score from 0 to 1 .* got 1\.5/],
    ['a misspelt rule key', { similarity: { $: { measure: 'rouge-l', treshold: 0.5 } } }, /option `compare\.similarity\["\$"\]\.treshold` is not an option here\. Did you mean `compare\.similarity\["\$"\]\.threshold`\?/],
    ['a bad path', { similarity: { '$.a[': 'rouge-l' } }, /option `compare\.similarity\["\$\.a\["\]` is not a valid JSON path/],
    ['similarity given as a list', { similarity: ['$.a'] }, /option `compare\.similarity` must map JSON paths to a measure/],
    ['a misspelt normalize key', { normalize: { punctuaton: false } }, /option `compare\.normalize\.punctuaton` is not an option here\. Did you mean `compare\.normalize\.punctuation`\?/],
    ['a non-boolean flag', { normalize: { case: 'yes' } }, /option `compare\.normalize\.case` must be true or false, got "yes"/],
    ['an unknown Unicode form', { normalize: { unicode: 'nfc' } }, /option `compare\.normalize\.unicode` must be 'NFC', 'NFKC' or false, got "nfc"\. Did you mean 'NFC'\?/],
    ['a misspelt compare key', { similarty: {} }, /Did you mean `compare\.similarity`\?/],
  ])('rejects %s with a ShadowOptionsError', (_case, options, message) => {
    expect(() => createComparator(options as CompareOptions)).toThrow(ShadowOptionsError);
    expect(() => createComparator(options as CompareOptions)).toThrow(message);
  });

  it('accepts every measure by name and leaves the options object untouched', () => {
    const options = Object.freeze({ similarity: Object.freeze({ '$.a': 'levenshtein' as SimilarityMeasure, '$.b': Object.freeze({ measure: 'token-f1' as const, threshold: 0 }) }) });
    expect(() => createComparator(options)).not.toThrow();
  });
});
