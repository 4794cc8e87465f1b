import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createComparator, DEFAULT_MAX_DIFFERENCES, MAX_COMPARE_DEPTH } from '../lib/engine/compare.js';
import type { ComparedAnswer, CompareOptions } from '../lib/types.js';
import { ShadowOptionsError } from '../lib/errors.js';

function jsonAnswer(json: unknown, bytes = JSON.stringify(json) ?? '', status = 200): ComparedAnswer {
  return { status, headers: { 'content-type': 'application/json' }, json, isJson: true, bytes: Buffer.from(bytes) };
}

function rawAnswer(bytes: Buffer | string, status = 200): ComparedAnswer {
  return { status, headers: { 'content-type': 'application/octet-stream' }, isJson: false, bytes: Buffer.from(bytes) };
}

function compareJson(production: unknown, shadow: unknown, options?: CompareOptions) {
  // The bytes are left empty: JSON answers are compared by their parsed value alone.
  return createComparator(options)(jsonAnswer(production, ''), jsonAnswer(shadow, ''));
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

/** `[[[...leaf...]]]` nested `depth` arrays deep, built without recursion. */
function nestedArrays(depth: number, leaf: unknown): unknown {
  let value = leaf;
  for (let level = 0; level < depth; level++) value = [value];
  return value;
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

describe('createComparator: JSON answers', () => {
  it('matches equal documents with no differences', () => {
    const document = { id: 1, items: [{ label: 'cat', score: 0.9 }], meta: null, ok: true };
    expect(compareJson(document, structuredClone(document))).toEqual({ match: true, differences: [], differenceCount: 0 });
  });

  it('compares the parsed JSON, so key order and whitespace in the bytes do not count', () => {
    const compare = createComparator();
    const result = compare(jsonAnswer({ a: 1, b: 2 }, '{"a":1,"b":2}'), jsonAnswer({ b: 2, a: 1 }, '{ "b": 2,\n  "a": 1 }'));
    expect(result.match).toBe(true);
  });

  it('leaves status codes to the caller', () => {
    const result = createComparator()(jsonAnswer({ a: 1 }, undefined, 200), jsonAnswer({ a: 1 }, undefined, 500));
    expect(result.match).toBe(true);
  });

  it('reports a changed leaf with its path and both values', () => {
    expect(compareJson({ a: { b: 1 } }, { a: { b: 2 } })).toEqual({
      match: false,
      differences: [{ path: '$.a.b', production: 1, shadow: 2 }],
      differenceCount: 1,
    });
  });

  it('reports changed strings and booleans', () => {
    expect(compareJson({ label: 'cat', ok: true }, { label: 'dog', ok: false }).differences).toEqual([
      { path: '$.label', production: 'cat', shadow: 'dog' },
      { path: '$.ok', production: true, shadow: false },
    ]);
  });

  it('lists differences in document order, keys only the shadow has last', () => {
    const production = { a: 1, b: [1, 2, { c: 'x' }], d: 'same' };
    const shadow = { extra: 0, a: 2, b: [1, 3, { c: 'y' }], d: 'same' };
    expect(compareJson(production, shadow).differences.map((difference) => difference.path)).toEqual(['$.a', '$.b[1]', '$.b[2].c', '$.extra']);
  });

  it('quotes member names that are not identifiers in difference paths', () => {
    expect(compareJson({ 'x-model': 'v1' }, { 'x-model': 'v2' }).differences).toEqual([{ path: "$['x-model']", production: 'v1', shadow: 'v2' }]);
  });

  it('reports a key missing from the shadow with only the production value', () => {
    const [difference] = compareJson({ a: 1, b: { c: 2 } }, { a: 1 }).differences;
    expect(difference).toStrictEqual({ path: '$.b', production: { c: 2 } });
    expect(difference && 'shadow' in difference).toBe(false);
  });

  it('reports a key missing from production with only the shadow value', () => {
    const [difference] = compareJson({ a: 1 }, { a: 1, b: 2 }).differences;
    expect(difference).toStrictEqual({ path: '$.b', shadow: 2 });
    expect(difference && 'production' in difference).toBe(false);
  });

  it('reports each extra element when the shadow array is shorter', () => {
    expect(compareJson({ list: [1, 2, 3] }, { list: [1] }).differences).toStrictEqual([
      { path: '$.list[1]', production: 2 },
      { path: '$.list[2]', production: 3 },
    ]);
  });

  it('reports each extra element when the shadow array is longer', () => {
    expect(compareJson([1], [1, 'x']).differences).toStrictEqual([{ path: '$[1]', shadow: 'x' }]);
  });

  it.each([
    ['number vs string', 1, '1'],
    ['null vs object', null, {}],
    ['array vs object', [], {}],
    ['object vs array', { 0: 'a' }, ['a']],
    ['number vs null', 0, null],
    ['boolean vs string', false, 'false'],
  ])('reports a type change (%s) as one difference at that path', (_kind, production, shadow) => {
    expect(compareJson({ value: production }, { value: shadow })).toEqual({
      match: false,
      differences: [{ path: '$.value', production, shadow }],
      differenceCount: 1,
    });
  });

  it('reports a type change at the root as $', () => {
    expect(compareJson([], {}).differences).toEqual([{ path: '$', production: [], shadow: {} }]);
  });

  it('does not mutate the answers it compares', () => {
    const production = deepFreeze({ a: [1, { b: 2 }], c: 'x' });
    const shadow = deepFreeze({ a: [1, { b: 3 }, 4], d: 'y' });
    expect(compareJson(production, shadow).differenceCount).toBe(4);
    expect(production).toEqual({ a: [1, { b: 2 }], c: 'x' });
  });
});

describe('createComparator: ignorePaths', () => {
  it('ignores $.id at the top level only', () => {
    const compare = createComparator({ ignorePaths: ['$.id'] });
    expect(compare(jsonAnswer({ id: 'a1', user: { id: 7 } }), jsonAnswer({ id: 'b2', user: { id: 7 } })).match).toBe(true);
    expect(compare(jsonAnswer({ id: 'a1', user: { id: 7 } }), jsonAnswer({ id: 'b2', user: { id: 8 } })).differences).toEqual([
      { path: '$.user.id', production: 7, shadow: 8 },
    ]);
  });

  it('ignores a key that one side lacks when its path is ignored', () => {
    expect(compareJson({ id: 1, a: 1 }, { a: 1 }, { ignorePaths: ['$.id'] }).match).toBe(true);
  });

  it('ignores every member under a member wildcard but still sees the parent change type', () => {
    const options = { ignorePaths: ['$.meta.*'] };
    expect(compareJson({ meta: { took: 3, host: 'a' } }, { meta: { took: 9, node: 'b' } }, options).match).toBe(true);
    expect(compareJson({ meta: { took: 3 } }, { meta: null }, options).differences).toEqual([
      { path: '$.meta', production: { took: 3 }, shadow: null },
    ]);
  });

  it('ignores one field of every element with an index wildcard and still compares the rest', () => {
    const production = { items: [{ ts: 1, label: 'cat' }, { ts: 2, label: 'dog' }] };
    const shadow = { items: [{ ts: 5, label: 'cat' }, { ts: 6, label: 'cow' }, { ts: 7, label: 'eel' }] };
    expect(compareJson(production, shadow, { ignorePaths: ['$.items[*].ts'] }).differences).toEqual([
      { path: '$.items[1].label', production: 'dog', shadow: 'cow' },
      { path: '$.items[2]', shadow: { ts: 7, label: 'eel' } },
    ]);
  });

  it('skips everything under an ignored path', () => {
    const production = { a: { b: { c: 1, d: [1] } }, e: 1 };
    const shadow = { a: { b: { c: 2, d: [2, 3], f: null } }, e: 1 };
    expect(compareJson(production, shadow, { ignorePaths: ['$.a.b'] }).match).toBe(true);
    expect(compareJson(production, shadow).differenceCount).toBe(4);
  });

  it('ignores nested paths with quoted members and indices', () => {
    const production = { headers: { 'x-request-id': 'r1', host: 'a' }, rows: [[1, 'now'], [2, 'then']] };
    const shadow = { headers: { 'x-request-id': 'r2', host: 'a' }, rows: [[1, 'later'], [2, 'then']] };
    expect(compareJson(production, shadow, { ignorePaths: ["$.headers['x-request-id']", '$.rows[0][1]'] }).match).toBe(true);
    expect(compareJson(production, shadow, { ignorePaths: ["$.headers['x-request-id']"] }).differences).toEqual([
      { path: '$.rows[0][1]', production: 'now', shadow: 'later' },
    ]);
  });

  it('ignores a member at any depth with .., and takes $.x-request-id like a label path', () => {
    const production = { ts: 1, items: [{ ts: 2, label: 'a' }], meta: { deep: { ts: 3 } }, 'x-request-id': 'r1' };
    const shadow = { ts: 9, items: [{ ts: 8, label: 'a' }], meta: { deep: { ts: 7 } }, 'x-request-id': 'r2' };
    expect(compareJson(production, shadow, { ignorePaths: ['$..ts', '$.x-request-id'] }).match).toBe(true);
    expect(compareJson(production, shadow, { ignorePaths: ['$..ts'] }).differences).toEqual([{ path: "$['x-request-id']", production: 'r1', shadow: 'r2' }]);
  });

  it('ignores everything with $', () => {
    const compare = createComparator({ ignorePaths: ['$'] });
    expect(compare(jsonAnswer({ a: 1 }), jsonAnswer([2])).match).toBe(true);
    expect(compare(rawAnswer('a'), rawAnswer('b')).match).toBe(true);
  });

  it('keeps the ignore paths it was created with when the caller changes the array later', () => {
    const options = { ignorePaths: ['$.id'] };
    const compare = createComparator(options);
    options.ignorePaths.push('$.score');
    expect(compare(jsonAnswer({ id: 1, score: 1 }), jsonAnswer({ id: 2, score: 2 })).differences).toEqual([
      { path: '$.score', production: 1, shadow: 2 },
    ]);
  });
});

describe('createComparator: numericTolerance', () => {
  it('compares numbers exactly by default', () => {
    expect(compareJson({ x: 0.1 + 0.2 }, { x: 0.3 }).differences).toEqual([{ path: '$.x', production: 0.1 + 0.2, shadow: 0.3 }]);
  });

  it('treats numbers exactly the absolute tolerance apart as equal, and just over as different', () => {
    const options = { numericTolerance: { absolute: 0.5 } };
    expect(compareJson({ x: 1 }, { x: 1.5 }, options).match).toBe(true);
    expect(compareJson({ x: 1.5 }, { x: 1 }, options).match).toBe(true);
    expect(compareJson({ x: -1 }, { x: -1.5 }, options).match).toBe(true);
    expect(compareJson({ x: 1 }, { x: 1.5000001 }, options).differences).toEqual([{ path: '$.x', production: 1, shadow: 1.5000001 }]);
  });

  it('treats numbers exactly the relative tolerance apart as equal, and just over as different', () => {
    const options = { numericTolerance: { relative: 0.5 } };
    expect(compareJson({ x: 1 }, { x: 2 }, options).match).toBe(true);
    expect(compareJson({ x: 1 }, { x: 2.0000001 }, options).match).toBe(false);
  });

  it('measures relative tolerance against the larger magnitude', () => {
    // |90 - 100| = 10 = 0.1 * 100; against the smaller one (9) it would differ.
    expect(compareJson({ x: 90 }, { x: 100 }, { numericTolerance: { relative: 0.1 } }).match).toBe(true);
    expect(compareJson({ x: 100 }, { x: 90 }, { numericTolerance: { relative: 0.1 } }).match).toBe(true);
    expect(compareJson({ x: 89.9 }, { x: 100 }, { numericTolerance: { relative: 0.1 } }).match).toBe(false);
  });

  it('counts numbers as equal when either tolerance is met', () => {
    const options = { numericTolerance: { absolute: 1, relative: 0.01 } };
    expect(compareJson({ small: 0.1, large: 1000 }, { small: 0.9, large: 1005 }, options).match).toBe(true);
    expect(compareJson({ small: 0.1 }, { small: 1.2 }, options).match).toBe(false);
  });

  it('applies only to numbers, not to numeric-looking strings', () => {
    expect(compareJson({ x: '1' }, { x: '1.1' }, { numericTolerance: { absolute: 1 } }).match).toBe(false);
  });
});

describe('createComparator: differences cap', () => {
  const production = Object.fromEntries(Array.from({ length: 30 }, (_, index) => [`k${index}`, index]));
  const shadow = Object.fromEntries(Array.from({ length: 30 }, (_, index) => [`k${index}`, -index - 1]));

  it(`lists at most ${DEFAULT_MAX_DIFFERENCES} differences by default but counts them all`, () => {
    const result = compareJson(production, shadow);
    expect(result.match).toBe(false);
    expect(result.differences).toHaveLength(DEFAULT_MAX_DIFFERENCES);
    expect(result.differenceCount).toBe(30);
  });

  it('keeps the first differences in document order up to maxDifferences', () => {
    const result = compareJson(production, shadow, { maxDifferences: 3 });
    expect(result.differences).toEqual([
      { path: '$.k0', production: 0, shadow: -1 },
      { path: '$.k1', production: 1, shadow: -2 },
      { path: '$.k2', production: 2, shadow: -3 },
    ]);
    expect(result.differenceCount).toBe(30);
  });

  it('with maxDifferences 0 lists none yet still reports the mismatch and the count', () => {
    expect(compareJson(production, shadow, { maxDifferences: 0 })).toEqual({ match: false, differences: [], differenceCount: 30 });
    expect(createComparator({ maxDifferences: 0 })(rawAnswer('a'), rawAnswer('b'))).toEqual({ match: false, differences: [], differenceCount: 1 });
  });
});

describe('createComparator: answers that are not JSON', () => {
  it('matches identical bytes', () => {
    const bytes = Buffer.from([0, 1, 2, 255]);
    expect(createComparator()(rawAnswer(bytes), rawAnswer(Buffer.from(bytes)))).toEqual({ match: true, differences: [], differenceCount: 0 });
  });

  it('reports different bytes as one difference at $ with sizes and hashes, not the content', () => {
    const result = createComparator()(rawAnswer('x'.repeat(10_000)), rawAnswer('y'.repeat(10_001)));
    expect(result).toEqual({
      match: false,
      differences: [
        { path: '$', production: { bytes: 10_000, sha256: sha256('x'.repeat(10_000)) }, shadow: { bytes: 10_001, sha256: sha256('y'.repeat(10_001)) } },
      ],
      differenceCount: 1,
    });
  });

  it('compares bytes when only one side is JSON', () => {
    const compare = createComparator();
    expect(compare(jsonAnswer({ a: 1 }, '{"a":1}'), rawAnswer('{"a":1}')).match).toBe(true);
    expect(compare(jsonAnswer({ a: 1 }, '{"a":1}'), rawAnswer('{"a": 1}')).differences).toEqual([{ path: '$', production: '{"a":1}', shadow: '{"a": 1}' }]);
  });

  it('shows short texts in the difference, and only size and hash of long or binary bodies', () => {
    const compare = createComparator();
    expect(compare(rawAnswer('positive: great (3)'), rawAnswer('positive: great (3), love (3)')).differences).toEqual([
      { path: '$', production: 'positive: great (3)', shadow: 'positive: great (3), love (3)' },
    ]);
    const binary = Buffer.from([0xff, 0xfe, 0x00]);
    const [difference] = compare(rawAnswer(binary), rawAnswer('x')).differences;
    expect(difference!.production).toEqual({ bytes: 3, sha256: createHash('sha256').update(binary).digest('hex') });
    expect(difference!.shadow).toBe('x');
  });
});

describe(`createComparator: nesting past depth ${MAX_COMPARE_DEPTH}`, () => {
  const pathAtLimit = '$' + '[0]'.repeat(MAX_COMPARE_DEPTH);

  it('reports a difference above the limit at its exact path', () => {
    expect(compareJson(nestedArrays(10, 'a'), nestedArrays(10, 'b')).differences).toEqual([{ path: '$' + '[0]'.repeat(10), production: 'a', shadow: 'b' }]);
  });

  it('reports a difference below the limit once, at the limit, with summaries instead of subtrees', () => {
    expect(compareJson(nestedArrays(200, 'a'), nestedArrays(200, 'b'))).toEqual({
      match: false,
      differences: [{ path: pathAtLimit, production: { type: 'array', length: 1 }, shadow: { type: 'array', length: 1 } }],
      differenceCount: 1,
    });
  });

  it('matches equal documents nested far deeper than the stack would allow to recurse', () => {
    expect(compareJson(nestedArrays(200_000, { x: 1 }), nestedArrays(200_000, { x: 1 })).match).toBe(true);
    expect(compareJson(nestedArrays(200_000, { x: 1 }), nestedArrays(200_000, { x: 2 })).differenceCount).toBe(1);
  });

  it('still applies numeric tolerance below the limit', () => {
    expect(compareJson(nestedArrays(100, 1), nestedArrays(100, 1.05), { numericTolerance: { absolute: 0.1 } }).match).toBe(true);
  });

  it('summarises objects at the limit too', () => {
    const production = nestedArrays(MAX_COMPARE_DEPTH, { a: 1, b: 2 });
    const shadow = nestedArrays(MAX_COMPARE_DEPTH, { a: 1, c: 2 });
    expect(compareJson(production, shadow).differences).toEqual([{ path: pathAtLimit, production: { type: 'object', keys: 2 }, shadow: { type: 'object', keys: 2 } }]);
  });
});

describe('createComparator: option validation', () => {
  it.each([
    ['a bad ignore path', { ignorePaths: ['$.id', '$.x['] }, /option `compare\.ignorePaths\[1\]` is not a valid JSON path: "\$\.x\[" is not a valid JSON path/],
    ['an ignore path that is not a string', { ignorePaths: ['$.id', 7] }, /option `compare\.ignorePaths\[1\]` is not a valid JSON path: expected a JSON path string .* got 7/],
    ['ignorePaths given as a string', { ignorePaths: '$.id' }, /option `compare\.ignorePaths` must be an array .* got "\$\.id"/],
    ['a negative absolute tolerance', { numericTolerance: { absolute: -1 } }, /option `compare\.numericTolerance\.absolute` must be a finite number >= 0 .* got -1$/],
    ['a NaN absolute tolerance', { numericTolerance: { absolute: Number.NaN } }, /option `compare\.numericTolerance\.absolute` .* got NaN$/],
    ['a relative tolerance given as a string', { numericTolerance: { relative: '0.1' } }, /option `compare\.numericTolerance\.relative` must be a finite number >= 0 .* got "0\.1"$/],
    ['an infinite relative tolerance', { numericTolerance: { relative: Number.POSITIVE_INFINITY } }, /option `compare\.numericTolerance\.relative` .* got Infinity$/],
    ['numericTolerance given as a number', { numericTolerance: 0.01 }, /option `compare\.numericTolerance` must be an object .* got 0\.01$/],
    ['a negative maxDifferences', { maxDifferences: -1 }, /option `compare\.maxDifferences` must be a whole number >= 0 .* got -1$/],
    ['a fractional maxDifferences', { maxDifferences: 2.5 }, /option `compare\.maxDifferences` .* got 2\.5$/],
    ['a misspelt option', { ignorePath: ['$.id'] }, /option `compare\.ignorePath` is not an option here\. Did you mean `compare\.ignorePaths`\?/],
    ['a misspelt tolerance', { numericTolerance: { abs: 1 } }, /option `compare\.numericTolerance\.abs` is not an option here\. Did you mean `compare\.numericTolerance\.absolute`\?/],
    ['an unknown option', { colour: true }, /option `compare\.colour` is not an option here\. compare accepts ignorePaths, numericTolerance, maxDifferences, similarity, normalize\./],
    ['null options', null, /option `compare` must be an options object .* got null$/],
  ])('rejects %s with a ShadowOptionsError naming the option and the value', (_case, options, message) => {
    expect(() => createComparator(options as CompareOptions)).toThrow(ShadowOptionsError);
    expect(() => createComparator(options as CompareOptions)).toThrow(message);
  });

  it('accepts zero tolerances and maxDifferences and does not change the options object', () => {
    const options = deepFreeze({ ignorePaths: ['$.id'], numericTolerance: { absolute: 0, relative: 0 }, maxDifferences: 0 });
    expect(() => createComparator(options)).not.toThrow();
  });
});
