import { describe, expect, it } from 'vitest';
import {
  createNameMatcher,
  forwardedMatcher,
  isCredentialHeaderName,
  isCredentialParamName,
  matcherOf,
  withheldMatcher,
} from '../lib/engine/credentials.js';
import { decodeFormName, maskQuery, removeQueryParams } from '../lib/engine/redact-query.js';
import { closestName } from '../lib/did-you-mean.js';

describe('credential header names', () => {
  it.each([
    'Authorization',
    'proxy-authorization',
    'cookie',
    'set-cookie',
    'x-api-key',
    'x-auth-token',
    'x-access-token',
    'api-key',
    'apikey',
    'x-csrf-token',
    'x-xsrf-token',
    'x-amz-security-token',
    'x-goog-api-key',
    'ocp-apim-subscription-key',
    'x-hub-signature-256',
    'x-session-id',
    'x-client-secret',
    'x-db-password',
    'x-auth',
    'hmac-auth',
    'x-credential-id',
  ])('withholds %s', (name) => {
    expect(isCredentialHeaderName(name)).toBe(true);
  });

  it.each(['content-type', 'accept', 'user-agent', 'x-request-id', 'x-author', 'oauth-state-hint', 'www-authenticate', ':authority', 'x-visible'])(
    'keeps %s',
    (name) => {
      expect(isCredentialHeaderName(name)).toBe(false);
    },
  );
});

describe('credential query parameter names', () => {
  it.each(['token', 'access_token', 'id_token', 'api_key', 'apiKey', 'key', 'sig', 'signature', 'X-Amz-Signature', 'X-Amz-Credential', 'password', 'client_secret', 'code', 'session', 'auth'])(
    'masks %s',
    (name) => {
      expect(isCredentialParamName(name)).toBe(true);
    },
  );

  it.each(['q', 'page', 'keyword', 'monkey', 'zipcode', 'lang', 'author'])('keeps %s', (name) => {
    expect(isCredentialParamName(name)).toBe(false);
  });
});

describe('name matchers', () => {
  it('adds names to the defaults and takes allowed ones out, case-insensitively', () => {
    const matcher = createNameMatcher(isCredentialHeaderName, { add: ['X-Tenant'], allow: ['X-Session-Region'] });
    expect(matcher.has('x-tenant')).toBe(true);
    expect(matcher.has('X-AUTH-TOKEN')).toBe(true);
    expect(matcher.has('x-session-region')).toBe(false);
    expect(matcher.has('x-session-id')).toBe(true);
  });

  it('withholds credentials unless forwarded: all, none, or the names listed', () => {
    const credentials = createNameMatcher(isCredentialHeaderName);
    expect(withheldMatcher(credentials, forwardedMatcher(false)).has('authorization')).toBe(true);
    expect(withheldMatcher(credentials, forwardedMatcher(true)).has('authorization')).toBe(false);
    const some = withheldMatcher(credentials, forwardedMatcher(['X-Auth-Token']));
    expect(some.has('x-auth-token')).toBe(false);
    expect(some.has('authorization')).toBe(true);
    expect(some.has('accept')).toBe(false);
  });
});

describe('query parameters in the request-target', () => {
  const secret = matcherOf(['api_key', 'access_token', 'token']);

  it('removes only the credential pairs, every other byte as received', () => {
    expect(removeQueryParams('/p?q=caf%C3%A9+x&api_key=abc&keep=1;a&access_token=t&empty=&&last', secret)).toBe('/p?q=caf%C3%A9+x&keep=1;a&empty=&&last');
    expect(removeQueryParams('/p?a=%2F&b', secret)).toBe('/p?a=%2F&b');
  });

  it('drops the ? when every pair was a credential, and leaves a target without them untouched', () => {
    expect(removeQueryParams('/p?api_key=1&token=2', secret)).toBe('/p');
    expect(removeQueryParams('/p?', secret)).toBe('/p?');
    expect(removeQueryParams('/p', secret)).toBe('/p');
  });

  it('reads names as a server would: percent-escapes and + decoded, repeated names all removed', () => {
    expect(removeQueryParams('/p?api%5Fkey=1&x=2&api_key=3&Token=4', secret)).toBe('/p?x=2');
    expect(removeQueryParams('/p?%E0%A4%A=1', secret)).toBe('/p?%E0%A4%A=1');
    expect(decodeFormName('a+b%21')).toBe('a b!');
  });

  it('masks credential values in a logged path, keeping names and the rest', () => {
    expect(maskQuery('/search?q=cats&api_key=abc&token', secret)).toBe('/search?q=cats&api_key=[REDACTED]&token=[REDACTED]');
    expect(maskQuery('/search?q=cats', secret)).toBe('/search?q=cats');
  });
});

describe('closestName', () => {
  it('suggests across case, containment and small edit distances, or nothing when far', () => {
    expect(closestName('sampleRat', ['sampleRate', 'sampleBy'])).toBe('sampleRate');
    expect(closestName('ABS', ['absolute', 'relative'])).toBe('absolute');
    expect(closestName('fromat', ['format', 'window'])).toBe('format');
    expect(closestName('zzzzzz', ['format', 'window'])).toBeUndefined();
  });
});
