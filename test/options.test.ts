import { describe, expect, it } from 'vitest';
import { shadowMiddleware, ShadowOptionsError, type ShadowOptions } from '../lib/index.js';

const target = 'http://127.0.0.1:9';

function construct(options: unknown) {
  return () => shadowMiddleware(options as ShadowOptions);
}

describe('option validation at construction', () => {
  const bad: [string, unknown, RegExp][] = [
    ['missing target', {}, /`target` is required/],
    ['relative target', { target: '/predict' }, /`target` must be an absolute http\(s\) URL.*"\/predict"/],
    ['non-http target', { target: 'ftp://127.0.0.1/' }, /`target` must use http: or https:, got "ftp:\/\/127\.0\.0\.1\/"/],
    ['target with credentials', { target: 'http://user:pw@127.0.0.1/' }, /`target` must not carry credentials/],
    ['target with a query', { target: 'http://127.0.0.1/?a=1' }, /`target` must not have a query/],
    ['sampleRate above 1', { target, sampleRate: 1.5 }, /`sampleRate` must be a number from 0 to 1.*got 1\.5/],
    ['negative sampleRate', { target, sampleRate: -0.1 }, /`sampleRate`.*got -0\.1/],
    ['sampleRate as a string', { target, sampleRate: '0.5' }, /`sampleRate`.*got "0\.5"/],
    ['negative timeout', { target, timeoutMs: -1 }, /`timeoutMs` must be a positive integer, got -1/],
    ['zero maxConcurrent', { target, maxConcurrent: 0 }, /`maxConcurrent` must be a positive integer, got 0/],
    ['fractional maxBodyBytes', { target, maxBodyBytes: 1.5 }, /`maxBodyBytes` must be an integer of 0 or more, got 1\.5/],
    ['unknown option with a near name', { target, sampleRat: 1 }, /`sampleRat` is not an option.*Did you mean `sampleRate`\?/],
    ['unknown option', { target, colour: 'blue' }, /`colour` is not an option of express-shadow\. Known options:/],
    ['unknown breaker option', { target, breaker: { threshold: 3 } }, /`breaker\.threshold` is not an option/],
    ['non-function filter', { target, filter: true }, /`filter` must be a function, got true/],
    ['methods not a list', { target, methods: 'POST' }, /`methods` must be an array of non-empty strings/],
    ['logger and logFile together', { target, logFile: 'a.log', logger: { log() {} } }, /`logFile` cannot be combined with `logger`/],
    ['a logger that is not one', { target, logger: 'winston' }, /`logger` must be a winston logger/],
    ['bad redact path', { target, redact: ['$.password['] }, /`redact\[0\]` is not a valid JSON path/],
    ['redact.add with a bad path', { target, redact: { add: ['$.a', '$.b['] } }, /`redact\.add\[1\]` is not a valid JSON path/],
    ['redact.allow of a path that is not a default', { target, redact: { allow: ['$..pasword'] } }, /`redact\.allow\[0\]` "\$\.\.pasword" is not a default path.*Did you mean "\$\.\.password"\?/],
    ['redact with an unknown key', { target, redact: { remove: ['$..token'] } }, /`redact\.remove` is not an option/],
    ['redactHeaders.allow of a header no rule catches', { target, redactHeaders: { allow: ['accept'] } }, /`redactHeaders\.allow\[0\]` "accept" is not caught by the default header rules/],
    ['redactHeaders as a string', { target, redactHeaders: 'x-tenant' }, /`redactHeaders` must be a list of names, or \{ add: \[\.\.\.\], allow: \[\.\.\.\] \}/],
    ['redactQuery.allow of a parameter no rule catches', { target, redactQuery: { allow: ['page'] } }, /`redactQuery\.allow\[0\]` "page" is not caught by the default query rules/],
    ['redactQuery.add not a list', { target, redactQuery: { add: 'tenant' } }, /`redactQuery\.add` must be an array of non-empty strings/],
    ['redactValues with a typo', { target, redactValues: ['card', 'emial'] }, /`redactValues\[1\]` must be one of card, email, jwt, got "emial"\. Did you mean 'email'\?/],
    ['redactValues not a list', { target, redactValues: 'card' }, /`redactValues` must be a list of 'card', 'email', 'jwt'/],
    ['logBodies as another string', { target, logBodies: 'requests' }, /`logBodies` must be true, false, 'request' or 'response', got "requests"/],
    ['forwardCredentials as a string', { target, forwardCredentials: 'authorization' }, /`forwardCredentials` must be true, false or a list of header and query parameter names/],
    ['bad compare tolerance', { target, compare: { numericTolerance: { absolute: -1 } } }, /compare\.numericTolerance\.absolute/],
    ['logHeaders as a string', { target, logHeaders: 'content-type' }, /`logHeaders` must be true, false or an array of header names/],
    ['targets with target', { target, targets: [{ url: target }] }, /`targets` cannot be combined with `target`/],
    ['function target without a name', { target: async () => ({ status: 200 }) }, /`name` is required for a function target/],
    ['two targets with one name', { targets: [{ name: 'v2', url: target }, { name: 'v2', url: target }] }, /two targets named "v2"/],
    ['bad candidate sample rate', { targets: [{ name: 'v2', url: target, sampleRate: 2 }] }, /`targets\[0\]\.sampleRate` must be a number from 0 to 1/],
    ['breaker threshold of 0', { target, breaker: { failureThreshold: 0 } }, /`breaker\.failureThreshold` must be a positive integer/],
  ];
  for (const [name, options, message] of bad) {
    it(`throws a TypeError naming the option for ${name}`, () => {
      expect(construct(options)).toThrow(TypeError);
      expect(construct(options)).toThrow(message);
    });
  }

  it('throws ShadowOptionsError with a stable code and the option name', () => {
    try {
      shadowMiddleware({ target, sampleRate: 2 });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ShadowOptionsError);
      expect((error as ShadowOptionsError).code).toBe('ERR_SHADOW_OPTIONS');
      expect((error as ShadowOptionsError).option).toBe('sampleRate');
    }
  });

  it('rejects a call without options with an example', () => {
    expect(construct(undefined)).toThrow(/needs an options object.*Example: shadowMiddleware\(\{ target:/);
  });

  it('does not mutate the caller’s options object', async () => {
    const options = Object.freeze({ target, logFile: '/dev/null', methods: Object.freeze(['post']) as string[], breaker: Object.freeze({}) });
    const shadow = shadowMiddleware(options);
    expect(options.methods).toEqual(['post']);
    await shadow.close();
  });

  it('validates update() the same way and leaves the state unchanged on a bad value', async () => {
    const shadow = shadowMiddleware({ target, logFile: '/dev/null', sampleRate: 0.5 });
    expect(() => shadow.update({ sampleRate: 7 })).toThrow(/`sampleRate` must be a number from 0 to 1.*got 7/);
    expect(() => shadow.update({ timeoutMs: 1 } as never)).toThrow(/`timeoutMs` cannot be changed at run time/);
    expect(shadow.stats().sampleRate).toBe(0.5);
    shadow.update({ sampleRate: 0.25, enabled: false });
    expect(shadow.stats()).toMatchObject({ sampleRate: 0.25, enabled: false });
    await shadow.close();
  });
});
