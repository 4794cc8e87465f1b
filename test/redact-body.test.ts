import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createNameMatcher, isCredentialParamName } from '../lib/engine/credentials.js';
import { decodeBody, type DecodedBody } from '../lib/engine/logged-body.js';
import {
  bodyDigestForLog,
  createBodyRules,
  DEFAULT_REDACT_PATHS,
  fieldSegments,
  redactDifference,
  redactedBodyForLog,
  redactText,
  streamTextForLog,
  type BodyRules,
} from '../lib/engine/redact-body.js';
import { createTextMasker, scalarMasker } from '../lib/engine/redact-values.js';
import { compilePathPattern } from '../lib/json-path.js';

function rules(options: { extra?: string[]; values?: boolean; max?: number } = {}): BodyRules {
  const paths = [...DEFAULT_REDACT_PATHS.map((path) => compilePathPattern(path, undefined, { scalarsOnly: true })), ...(options.extra ?? []).map((path) => compilePathPattern(path))];
  const maskText = options.values ? createTextMasker(['card', 'email', 'jwt']) : undefined;
  return createBodyRules(paths, createNameMatcher(isCredentialParamName), maskText, maskText ? scalarMasker(maskText, ['card']) : undefined, options.max ?? 65536);
}

function body(text: string | Buffer, contentType?: string, truncated = false): DecodedBody {
  const bytes = Buffer.isBuffer(text) ? text : Buffer.from(text);
  return decodeBody(bytes, bytes.length, truncated, contentType);
}

const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');

describe('JSON bodies whatever the content type says', () => {
  const json = JSON.stringify({ user: { password: 'hunter2', name: 'Ada' }, token: 'tok', items: [{ cvv: 123 }] });
  const masked = { user: { password: '[REDACTED]', name: 'Ada' }, token: '[REDACTED]', items: [{ cvv: '[REDACTED]' }] };

  it.each([['application/json'], ['text/plain'], [undefined], ['application/octet-stream']])('masks default fields under %s', (type) => {
    expect(redactedBodyForLog(body(json, type), type, rules()).body).toEqual(masked);
  });

  it('masks first, then cuts a JSON body too long to log whole', () => {
    const long = JSON.stringify({ password: 'hunter2', pad: 'x'.repeat(200) });
    const logged = redactedBodyForLog(body(long, 'application/json'), 'application/json', rules({ max: 60 }));
    expect(logged.truncated).toBe(true);
    expect(String(logged.body)).toMatch(/^\{"password":"\[REDACTED\]","pad":"x+$/);
  });

  it('logs JSON it cannot parse (cut off or broken) as its size and sha256 only', () => {
    const cut = '{"password":"hunter2","x":';
    const logged = redactedBodyForLog(body(cut, 'text/plain'), 'text/plain', rules());
    expect(logged).toEqual({ body: '[REDACTED]', bodyBytes: cut.length, bodySha256: sha256(cut) });
    expect(redactedBodyForLog(body(cut, 'application/json', true), 'application/json', rules()).truncated).toBe(true);
  });

  it('keeps a non-JSON error page under a JSON type as base64, as before', () => {
    const page = '<html>502</html>';
    expect(redactedBodyForLog(body(page, 'application/json'), 'application/json', rules())).toMatchObject({ bodyEncoding: 'base64', body: Buffer.from(page).toString('base64') });
  });

  it('spares objects under a default name but masks scalars inside them, and masks user paths whole', () => {
    const tgi = JSON.stringify({ token: { id: 3, text: 'Hi' }, profile: { email: { primary: 'a@b.io' } } });
    expect(redactedBodyForLog(body(tgi, 'application/json'), 'application/json', rules({ extra: ['$.profile.email'] })).body).toEqual({
      token: { id: 3, text: 'Hi' },
      profile: { email: '[REDACTED]' },
    });
  });

  it('masks card numbers, emails and JWTs by value when asked, numbers included', () => {
    const text = JSON.stringify({ note: 'card 4111 1111 1111 1111 from a@b.io', n: 4111111111111111, ok: 12 });
    expect(redactedBodyForLog(body(text, 'application/json'), 'application/json', rules({ values: true })).body).toEqual({
      note: 'card [REDACTED:card] from [REDACTED:email]',
      n: '[REDACTED:card]',
      ok: 12,
    });
  });
});

describe('urlencoded forms', () => {
  it('masks secret field values by name (paths, bracketed names, credential parameter names), bytes otherwise kept', () => {
    const form = 'note=hi%20there&password=hunter2&user%5Bsecret%5D=s&client_secret=c&code=x&keep=1';
    expect(redactedBodyForLog(body(form, 'application/x-www-form-urlencoded'), 'application/x-www-form-urlencoded', rules()).body).toBe(
      'note=hi%20there&password=[REDACTED]&user%5Bsecret%5D=[REDACTED]&client_secret=[REDACTED]&code=[REDACTED]&keep=1',
    );
  });

  it('reads bracketed names as paths', () => {
    expect(fieldSegments('user[password]')).toEqual(['user', 'password']);
    expect(fieldSegments('items[0][cvv]')).toEqual(['items', 0, 'cvv']);
    expect(fieldSegments('tags[]')).toEqual(['tags']);
    expect(fieldSegments('[x]')).toEqual(['[x]']);
  });
});

describe('multipart', () => {
  const boundary = 'b0undary';
  const multipart = Buffer.from(
    `--${boundary}\r\nContent-Disposition: form-data; name="note"\r\n\r\nhello\r\n` +
      `--${boundary}\r\nContent-Disposition: form-data; name="password"\r\n\r\nhunter2\r\n` +
      `--${boundary}\r\nContent-Disposition: form-data; name="meta"\r\nContent-Type: application/json\r\n\r\n{"token":"t","a":1}\r\n` +
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="scan.png"\r\nContent-Type: image/png\r\n\r\nFILE-BYTES-SECRET\r\n` +
      `--${boundary}--\r\n`,
  );
  const type = `multipart/form-data; boundary=${boundary}`;

  it('logs text fields masked by name and inside JSON, and files as metadata only', () => {
    const logged = redactedBodyForLog(body(multipart, type), type, rules());
    expect(logged.bodyEncoding).toBe('multipart');
    expect(logged.body).toEqual([
      { name: 'note', value: 'hello' },
      { name: 'password', value: '[REDACTED]' },
      { name: 'meta', value: '{"token":"[REDACTED]","a":1}' },
      { name: 'file', filename: 'scan.png', type: 'image/png', bytes: 17, sha256: sha256('FILE-BYTES-SECRET') },
    ]);
  });

  it('logs nothing of a multipart body it cannot parse or that was cut', () => {
    expect(redactedBodyForLog(body(multipart.subarray(0, 80), type, true), type, rules()).body).toBe('[REDACTED]');
    expect(redactedBodyForLog(body('garbage', type), type, rules()).body).toBe('[REDACTED]');
  });
});

describe('event streams', () => {
  it('masks each SSE event and each JSON line, leaving other lines and [DONE] as they are', () => {
    const sse = 'event: delta\ndata: {"token":"abc","delta":"Hi"}\n\ndata: [DONE]\n\n';
    expect(streamTextForLog(sse, 'sse', rules())).toBe('event: delta\ndata: {"token":"[REDACTED]","delta":"Hi"}\n\ndata: [DONE]\n\n');
    const multiLine = 'data: {"password":\ndata: "p"}\n\n';
    expect(streamTextForLog(multiLine, 'sse', rules())).toBe('data: {"password":"[REDACTED]"}\n\n');
    expect(streamTextForLog('{"token":"a"}\r\n{"ok":1}\r\n', 'jsonl', rules())).toBe('{"token":"[REDACTED]"}\r\n{"ok":1}\r\n');
  });

  it('masks a cut-off last event whole', () => {
    expect(streamTextForLog('data: {"ok":1}\n\ndata: {"password":"hun', 'sse', rules())).toBe('data: {"ok":1}\n\ndata: [REDACTED]');
  });
});

describe('redactText and redactDifference', () => {
  it('leaves text unchanged when nothing is masked, and masks JSON text inside', () => {
    expect(redactText('{"a": 1}', rules())).toBe('{"a": 1}');
    expect(redactText('{"password": 1}', rules())).toBe('{"password":"[REDACTED]"}');
    expect(redactText('[DONE]', rules())).toBe('[DONE]');
  });

  it('masks values at or under a named path, and inside a parent difference', () => {
    expect(redactDifference({ path: '$.user.password', production: 'a', shadow: 'b' }, rules())).toEqual({ path: '$.user.password', production: '[REDACTED]', shadow: '[REDACTED]' });
    expect(redactDifference({ path: '$.user', production: { password: 'a', n: 1 } }, rules())).toEqual({ path: '$.user', production: { password: '[REDACTED]', n: 1 } });
    expect(redactDifference({ path: '$', production: '{"token":"a"}', shadow: 'plain' }, rules())).toEqual({ path: '$', production: '{"token":"[REDACTED]"}', shadow: 'plain' });
  });

  it("masks a custom comparator's difference at a path it cannot read as if it were the whole document", () => {
    expect(redactDifference({ path: 'user', production: { password: 'a' }, shadow: '{"token":"b"}' }, rules())).toEqual({
      path: 'user',
      production: { password: '[REDACTED]' },
      shadow: '{"token":"[REDACTED]"}',
    });
  });

  it('keeps only the path when answers are not logged', () => {
    expect(redactDifference({ path: '$.label', production: 'cat', shadow: 'dog' }, rules(), false)).toEqual({ path: '$.label' });
  });
});

describe('bodies not logged', () => {
  it('keeps size and sha256 only', () => {
    expect(bodyDigestForLog(body('{"password":"x"}', 'application/json'))).toEqual({ bodyBytes: 16, bodySha256: sha256('{"password":"x"}') });
    expect(bodyDigestForLog(body(''))).toEqual({});
  });
});

describe('long bodies', () => {
  it('parses a whole text/plain JSON body too long to log whole, masks it, then cuts it', () => {
    const long = JSON.stringify({ password: 'hunter2', pad: 'y'.repeat(300) });
    const logged = redactedBodyForLog(body(long, 'text/plain'), 'text/plain', rules({ max: 80 }));
    expect(logged.truncated).toBe(true);
    expect(String(logged.body)).toMatch(/^\{"password":"\[REDACTED\]","pad":"y+$/);
  });
});
