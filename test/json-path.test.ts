import { describe, expect, it } from 'vitest';
import {
  compilePathPattern,
  formatPath,
  advanceStates,
  isComplete,
  MAX_REDACT_DEPTH,
  parsePath,
  redactAt,
  redactJson,
  redactPaths,
  startStates,
  validatePathPattern,
  type PathSegment,
} from '../lib/json-path.js';

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

describe('formatPath', () => {
  it('writes the root as $', () => {
    expect(formatPath([])).toBe('$');
  });

  it('writes identifier members after dots and indices in brackets', () => {
    expect(formatPath(['a', 'b'])).toBe('$.a.b');
    expect(formatPath(['items', 0, 'ts'])).toBe('$.items[0].ts');
    expect(formatPath([3, 1])).toBe('$[3][1]');
    expect(formatPath(['$ref', '_x9'])).toBe('$.$ref._x9');
  });

  it('quotes member names that are not identifiers, escaping quotes and backslashes', () => {
    expect(formatPath(['weird key'])).toBe("$['weird key']");
    expect(formatPath(['x-request-id'])).toBe("$['x-request-id']");
    expect(formatPath(['1st'])).toBe("$['1st']");
    expect(formatPath(['0'])).toBe("$['0']");
    expect(formatPath([''])).toBe("$['']");
    expect(formatPath(['*'])).toBe("$['*']");
    expect(formatPath(["it's"])).toBe("$['it\\'s']");
    expect(formatPath(['back\\slash'])).toBe("$['back\\\\slash']");
  });

  it('writes paths that parsePath reads back to the same segments', () => {
    const paths: PathSegment[][] = [[], ['a', 0, 'b'], ["it's", 'back\\slash', '*', '0', 0, 'a.b', 'x y', '"q"', '']];
    for (const path of paths) expect(parsePath(formatPath(path))).toEqual(path);
  });
});

describe('compilePathPattern', () => {
  it('matches $.id only at the top-level id', () => {
    const pattern = compilePathPattern('$.id');
    expect(pattern.matches(['id'])).toBe(true);
    expect(pattern.matches([])).toBe(false);
    expect(pattern.matches(['id', 'x'])).toBe(false);
    expect(pattern.matches(['user', 'id'])).toBe(false);
    expect(pattern.matches(['ID'])).toBe(false);
  });

  it('matches the root only with $', () => {
    const pattern = compilePathPattern('$');
    expect(pattern.matches([])).toBe(true);
    expect(pattern.matches(['a'])).toBe(false);
  });

  it('matches any one member or index with a member wildcard', () => {
    const pattern = compilePathPattern('$.meta.*');
    expect(pattern.matches(['meta', 'requestId'])).toBe(true);
    expect(pattern.matches(['meta', 0])).toBe(true);
    expect(pattern.matches(['meta'])).toBe(false);
    expect(pattern.matches(['meta', 'a', 'b'])).toBe(false);
    expect(pattern.matches(['other', 'a'])).toBe(false);
  });

  it('matches every element with an index wildcard', () => {
    const pattern = compilePathPattern('$.items[*].ts');
    expect(pattern.matches(['items', 0, 'ts'])).toBe(true);
    expect(pattern.matches(['items', 41, 'ts'])).toBe(true);
    expect(pattern.matches(['items', 0, 'label'])).toBe(false);
    expect(pattern.matches(['items', 0])).toBe(false);
  });

  it('tells indices from member names that look like numbers', () => {
    expect(compilePathPattern('$[0]').matches([0])).toBe(true);
    expect(compilePathPattern('$[0]').matches(['0'])).toBe(false);
    expect(compilePathPattern("$['0']").matches(['0'])).toBe(true);
    expect(compilePathPattern("$['0']").matches([0])).toBe(false);
    expect(compilePathPattern('$.a[12]').matches(['a', 12])).toBe(true);
  });

  it('reads single- and double-quoted member names with escapes', () => {
    expect(compilePathPattern("$['weird key'].x").matches(['weird key', 'x'])).toBe(true);
    expect(compilePathPattern('$["x-request-id"]').matches(['x-request-id'])).toBe(true);
    expect(compilePathPattern("$['it\\'s']").matches(["it's"])).toBe(true);
    expect(compilePathPattern('$["say \\"hi\\""]').matches(['say "hi"'])).toBe(true);
    expect(compilePathPattern("$['a\\\\b']").matches(['a\\b'])).toBe(true);
  });

  it('treats a dot inside quotes as part of the name', () => {
    const pattern = compilePathPattern("$['a.b']");
    expect(pattern.matches(['a.b'])).toBe(true);
    expect(pattern.matches(['a', 'b'])).toBe(false);
  });

  it('treats a quoted * as a literal member name, not a wildcard', () => {
    const pattern = compilePathPattern("$['*']");
    expect(pattern.matches(['*'])).toBe(true);
    expect(pattern.matches(['other'])).toBe(false);
  });

  it('keeps the source and exposes the parsed segments', () => {
    const pattern = compilePathPattern("$.a[2]['b c']");
    expect(pattern.source).toBe("$.a[2]['b c']");
    expect(pattern.segments).toEqual(['a', 2, 'b c']);
  });

  it('says whether a path leads to a match (matchesPrefix)', () => {
    const pattern = compilePathPattern('$.items[*].ts');
    expect(pattern.matchesPrefix([])).toBe(true);
    expect(pattern.matchesPrefix(['items', 3])).toBe(true);
    expect(pattern.matchesPrefix(['items', 3, 'ts'])).toBe(true);
    expect(pattern.matchesPrefix(['items', 3, 'ts', 'x'])).toBe(false);
    expect(pattern.matchesPrefix(['other'])).toBe(false);
  });

  it('says whether a path is a match or under one (covers)', () => {
    const pattern = compilePathPattern('$.meta.*');
    expect(pattern.covers(['meta', 'a'])).toBe(true);
    expect(pattern.covers(['meta', 'a', 0, 'deep'])).toBe(true);
    expect(pattern.covers(['meta'])).toBe(false);
    expect(pattern.covers(['data', 'a'])).toBe(false);
  });

  it.each([
    ['', 'must start with "$"'],
    ['id', 'must start with "$"'],
    [' $.a', 'must start with "$"'],
    ['$...a', 'expected a name or *'],
    ['$.', 'expected a name or *'],
    ['$.-b', 'expected a name or *'],
    ['$.a b', 'unexpected " "'],
    ['$.1a', 'expected a name or *'],
    ['$[', 'expected an index, * or a quoted name'],
    ['$[-1]', 'expected an index, * or a quoted name'],
    ['$[1.5]', 'expected "]"'],
    ['$[01]', 'leading zeros'],
    ['$[?(@.a)]', 'expected an index, * or a quoted name'],
    ["$['open", 'unterminated quoted name'],
    ["$['a'", 'expected "]"'],
    ["$['a\\n']", 'may be escaped'],
    ['$a', 'unexpected "a"'],
  ])('rejects %j with a TypeError naming it and saying what is accepted', (pattern, problem) => {
    expect(() => compilePathPattern(pattern)).toThrow(TypeError);
    expect(() => compilePathPattern(pattern)).toThrow(JSON.stringify(pattern));
    expect(() => compilePathPattern(pattern)).toThrow(problem);
    expect(() => compilePathPattern(pattern)).toThrow(/Accepted: .*\[\*\]/);
  });

  it('shows where the syntax went wrong', () => {
    expect(() => compilePathPattern('$.items[*].ts[')).toThrow('after "$.items[*].ts["');
  });

  it('prefixes the option name when given', () => {
    expect(() => compilePathPattern('$.a[', 'redact[2]')).toThrow(/^redact\[2\]: "\$\.a\[" is not a valid JSON path/);
  });

  it('rejects values that are not strings', () => {
    expect(() => compilePathPattern(42 as unknown as string, 'redact[0]')).toThrow(/^redact\[0\]: expected a JSON path string .* got 42/);
  });
});

describe('validatePathPattern', () => {
  it('returns null for a valid pattern and the problem for an invalid one', () => {
    expect(validatePathPattern("$.items[*]['x y'].*")).toBeNull();
    expect(validatePathPattern('$..a')).toBeNull();
    expect(validatePathPattern('$.a[')).toMatch(/^"\$\.a\[" is not a valid JSON path/);
    expect(validatePathPattern(null)).toMatch(/expected a JSON path string .* got null/);
  });
});

describe('parsePath', () => {
  it('refuses patterns with wildcards, which name many paths', () => {
    expect(() => parsePath('$.items[*]')).toThrow(TypeError);
    expect(() => parsePath('$.items[*]')).toThrow('names a set of paths');
  });
});

describe('advanceStates', () => {
  it('keeps the patterns that accept the next segment and drops the rest', () => {
    const patterns = [compilePathPattern('$.a.x'), compilePathPattern('$.*.y')];
    const afterA = advanceStates(startStates(patterns), 'a');
    expect(afterA.map((state) => state.pattern.source)).toEqual(['$.a.x', '$.*.y']);
    expect(advanceStates(startStates(patterns), 'b').map((state) => state.pattern.source)).toEqual(['$.*.y']);
    expect(advanceStates(advanceStates(afterA, 'z'), 'q')).toEqual([]);
    expect(isComplete(advanceStates(afterA, 'x'))).toBe(true);
  });

  it('keeps a recursive-descent pattern in play at every depth', () => {
    let states = startStates([compilePathPattern('$..password')]);
    for (const segment of ['a', 0, 'b', 'c']) {
      states = advanceStates(states, segment);
      expect(states.length).toBeGreaterThan(0);
      expect(isComplete(states)).toBe(false);
    }
    expect(isComplete(advanceStates(states, 'password'))).toBe(true);
  });
});

describe('recursive descent (..)', () => {
  it('names the member at the top and at any depth', () => {
    const pattern = compilePathPattern('$..password');
    expect(pattern.matches(['password'])).toBe(true);
    expect(pattern.matches(['user', 'password'])).toBe(true);
    expect(pattern.matches(['users', 3, 'auth', 'password'])).toBe(true);
    expect(pattern.matches(['user', 'passwords'])).toBe(false);
    expect(pattern.matches(['password', 'x'])).toBe(false);
    expect(pattern.covers(['password', 'x'])).toBe(true);
    expect(pattern.matchesPrefix(['anything', 'at', 'all'])).toBe(true);
  });

  it('combines with later steps, wildcards and brackets', () => {
    expect(compilePathPattern('$..user.id').matches(['a', 'user', 'id'])).toBe(true);
    expect(compilePathPattern('$..user.id').matches(['a', 'user', 'x', 'id'])).toBe(false);
    expect(compilePathPattern('$.a..b..c').matches(['a', 'x', 'b', 'y', 'z', 'c'])).toBe(true);
    expect(compilePathPattern('$.a..b..c').matches(['x', 'b', 'c'])).toBe(false);
    expect(compilePathPattern('$..[0]').matches(['list', 0])).toBe(true);
    expect(compilePathPattern("$..['x-key']").matches(['h', 'x-key'])).toBe(true);
    expect(compilePathPattern('$..*').matches(['a', 'b'])).toBe(true);
  });

  it('accepts hyphens in dotted names, so $.x-request-id and $[\'x-request-id\'] are the same path', () => {
    expect(compilePathPattern('$.x-request-id').matches(['x-request-id'])).toBe(true);
    expect(parsePath('$.headers.x-request-id')).toEqual(['headers', 'x-request-id']);
  });

  it('rejects a dangling or tripled dot with the accepted forms', () => {
    expect(() => compilePathPattern('$..')).toThrow(/expected a name or \*.*Accepted:/);
    expect(() => compilePathPattern('$...a')).toThrow(/expected a name or \*/);
    expect(() => parsePath('$..a')).toThrow('names a set of paths');
  });

  it('masks every matching field at any depth, never mutating the input', () => {
    const input = deepFreeze({ password: 'p1', user: { password: 'p2', name: 'Ada' }, list: [{ password: 'p3' }] });
    expect(redactPaths(input, [compilePathPattern('$..password')])).toEqual({
      password: '[REDACTED]',
      user: { password: '[REDACTED]', name: 'Ada' },
      list: [{ password: '[REDACTED]' }],
    });
  });

  it('spares containers for a scalars-only pattern but still masks scalars inside them', () => {
    const token = compilePathPattern('$..token', undefined, { scalarsOnly: true });
    const input = { token: { id: 3, text: 'Hi', token: 'inner' }, auth: { token: 'abc' } };
    expect(redactPaths(input, [token])).toEqual({ token: { id: 3, text: 'Hi', token: '[REDACTED]' }, auth: { token: '[REDACTED]' } });
  });

  it('masks a subtree still in play past MAX_REDACT_DEPTH instead of walking it', () => {
    let deep: unknown = { password: 'deep' };
    for (let depth = 0; depth < MAX_REDACT_DEPTH + 5; depth++) deep = [deep];
    const redacted = JSON.stringify(redactPaths(deep, [compilePathPattern('$..password')]));
    expect(redacted).not.toContain('deep');
    expect(redacted).toContain('[REDACTED]');
  });
});

describe('redactAt', () => {
  const patterns = [compilePathPattern('$..password'), compilePathPattern('$.user.ssn')];

  it('masks inside a value that sits below the root', () => {
    expect(redactAt({ password: 'x', ssn: '1', name: 'Ada' }, ['user'], patterns)).toEqual({ password: '[REDACTED]', ssn: '[REDACTED]', name: 'Ada' });
  });

  it('masks a value whose own path or a parent path is named', () => {
    expect(redactAt('1', ['user', 'ssn'], patterns)).toBe('[REDACTED]');
    expect(redactAt('x', ['password', 'deeper'], patterns)).toBe('[REDACTED]');
  });
});

describe('redactJson with mapScalar', () => {
  it('rewrites every kept string and number, and masks named paths first', () => {
    const upper = (value: string | number) => (typeof value === 'string' ? value.toUpperCase() : value * 2);
    expect(redactJson({ a: 'x', b: [1, 'y'], password: 'p' }, [compilePathPattern('$..password')], { mapScalar: upper })).toEqual({
      a: 'X',
      b: [2, 'Y'],
      password: '[REDACTED]',
    });
  });
});

describe('redactPaths', () => {
  const patterns = (...sources: string[]) => sources.map((source) => compilePathPattern(source));

  it('masks the value at a matching path', () => {
    const input = { user: { name: 'Ada', ssn: '123' }, total: 3 };
    expect(redactPaths(input, patterns('$.user.ssn'))).toEqual({ user: { name: 'Ada', ssn: '[REDACTED]' }, total: 3 });
  });

  it('masks at every element with an index wildcard and every member with a member wildcard', () => {
    const input = { items: [{ card: '4111', id: 1 }, { card: '5500', id: 2 }], secrets: { a: 1, b: [2] } };
    expect(redactPaths(input, patterns('$.items[*].card', '$.secrets.*'))).toEqual({
      items: [
        { card: '[REDACTED]', id: 1 },
        { card: '[REDACTED]', id: 2 },
      ],
      secrets: { a: '[REDACTED]', b: '[REDACTED]' },
    });
  });

  it('masks a whole subtree when the pattern names an object', () => {
    expect(redactPaths({ auth: { token: 'x', scopes: ['a'] }, ok: true }, patterns('$.auth'))).toEqual({ auth: '[REDACTED]', ok: true });
  });

  it('masks quoted member names and array indices', () => {
    const input = { 'x-api-key': 'k', list: ['a', 'b', 'c'] };
    expect(redactPaths(input, patterns("$['x-api-key']", '$.list[1]'))).toEqual({ 'x-api-key': '[REDACTED]', list: ['a', '[REDACTED]', 'c'] });
  });

  it('uses the given mask', () => {
    expect(redactPaths({ a: 1 }, patterns('$.a'), '***')).toEqual({ a: '***' });
  });

  it('replaces the whole value for $', () => {
    expect(redactPaths({ a: 1 }, patterns('$'))).toBe('[REDACTED]');
  });

  it('never mutates the input, even deep-frozen, and shares the subtrees it did not change', () => {
    const input = deepFreeze({ user: { ssn: '123', name: 'Ada' }, items: [{ card: '4111' }, { card: '5500' }], other: { big: [1, 2, 3] } });
    const before = structuredClone(input);
    const output = redactPaths(input, patterns('$.user.ssn', '$.items[*].card')) as typeof input;
    expect(input).toEqual(before);
    expect(output).not.toBe(input);
    expect(output.user).not.toBe(input.user);
    expect(output.user.ssn).toBe('[REDACTED]');
    expect(output.items[0]?.card).toBe('[REDACTED]');
    expect(output.other).toBe(input.other);
  });

  it('returns the input itself when no path matches', () => {
    const input = deepFreeze({ user: { name: 'Ada' }, list: [1, 2] });
    expect(redactPaths(input, patterns('$.user.ssn', '$.list[5]', '$.missing.*'))).toBe(input);
    expect(redactPaths(input, [])).toBe(input);
    expect(redactPaths('text body', patterns('$.a'))).toBe('text body');
  });

  it('does not add members that are missing', () => {
    const output = redactPaths({ a: 1 }, patterns('$.b', '$.a.c')) as Record<string, unknown>;
    expect(output).toEqual({ a: 1 });
    expect(Object.hasOwn(output, 'b')).toBe(false);
  });

  it('masks an own "__proto__" member of parsed JSON without touching any prototype', () => {
    const input = deepFreeze(JSON.parse('{"__proto__": {"secret": "s"}, "a": 1}') as Record<string, unknown>);
    const output = redactPaths(input, patterns('$.__proto__.secret')) as Record<string, unknown>;
    expect(Object.getPrototypeOf(output)).toBe(Object.prototype);
    expect(Object.getOwnPropertyDescriptor(output, '__proto__')?.value).toEqual({ secret: '[REDACTED]' });
    expect(({} as Record<string, unknown>).secret).toBeUndefined();
  });

  it('does not walk into objects that are not plain, such as class instances', () => {
    class Card {
      number = '4111';
    }
    const input = { card: new Card() };
    const output = redactPaths(input, patterns('$.card.number')) as typeof input;
    expect(output).toBe(input);
    expect(output.card.number).toBe('4111');
  });
});
