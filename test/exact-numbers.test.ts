import { describe, expect, it } from 'vitest';
import { createComparator } from '../lib/engine/compare.js';
import { canonicalNumber } from '../lib/engine/exact-numbers.js';
import type { ComparedAnswer } from '../lib/types.js';

/** An answer as the engine builds it: the JSON text's bytes, and `JSON.parse` of them (numbers rounded to doubles). */
function answer(text: string): ComparedAnswer {
  return { status: 200, headers: { 'content-type': 'application/json' }, isJson: true, json: JSON.parse(text), bytes: Buffer.from(text) };
}

const compare = createComparator();

describe('numbers compared as the JSON text wrote them', () => {
  it.each([
    ['integers past 2^53', '{"id":9007199254740993}', '{"id":9007199254740992}', '$.id'],
    ['negative integers past 2^53', '[-18014398509481985]', '[-18014398509481984]', '$[0]'],
    ['20-digit ids nested in arrays', '{"a":[{"b":12345678901234567891}]}', '{"a":[{"b":12345678901234567890}]}', '$.a[0].b'],
    ['decimals with more digits than a double holds', '{"p":0.10000000000000000001}', '{"p":0.1}', '$.p'],
    ['exponent forms of different big numbers', '{"x":1.0000000000000001e300}', '{"x":1e300}', '$.x'],
  ])('tells apart %s, which parse to the same double', (_case, production, shadow, path) => {
    const p = answer(production);
    const s = answer(shadow);
    expect(JSON.stringify(p.json)).toBe(JSON.stringify(s.json));
    const result = compare(p, s);
    expect(result.match).toBe(false);
    expect(result.differences).toHaveLength(1);
    expect(result.differences[0]!.path).toBe(path);
    // Shown as written, since a double would show them equal.
    expect(typeof result.differences[0]!.production).toBe('string');
    expect(result.differences[0]!.production).not.toBe(result.differences[0]!.shadow);
  });

  it.each([
    ['the same big integer', '{"id":9007199254740993}', '{"id":9007199254740993}'],
    ['one number spelt two ways', '{"x":1.50e2,"y":12345678901234567890}', '{"x":150.0,"y":1.2345678901234567890e19}'],
    ['equal floats of ordinary length', '{"score":0.93,"n":3}', '{"score":0.93,"n":3}'],
    ['long digit runs only inside strings', '{"id":"12345678901234567890","v":0.5}', '{"id":"12345678901234567890","v":0.5}'],
    ['zero and minus zero', '{"z":0.00000000000000000000}', '{"z":-0}'],
  ])('still matches %s', (_case, production, shadow) => {
    expect(compare(answer(production), answer(shadow)).match).toBe(true);
  });

  it('leaves big numbers to the tolerance when one is set', () => {
    const tolerant = createComparator({ numericTolerance: { relative: 1e-9 } });
    expect(tolerant(answer('{"id":9007199254740993}'), answer('{"id":9007199254740992}')).match).toBe(true);
  });

  it('does not second-guess a parsed answer that a transformResponse changed', () => {
    const p = answer('{"id":9007199254740993}');
    // A transform replaced the shadow's parsed answer: its bytes no longer say what was compared.
    const transformed = { ...answer('{"id":9007199254740992}'), json: JSON.parse('{"id":9007199254740993}') as unknown, bytes: Buffer.from('{"other":1}') };
    expect(compare(p, transformed).match).toBe(true);
  });

  it('gives each spelling of a number one canonical text', () => {
    expect(canonicalNumber('150')).toBe(canonicalNumber('1.50e2'));
    expect(canonicalNumber('-0.00')).toBe('0');
    expect(canonicalNumber('9007199254740993')).not.toBe(canonicalNumber('9007199254740992'));
  });
});
