/**
 * Safe by default with secrets (issue 13), end to end: requests carrying every credential form go through a real
 * Express app and a real shadow server; nothing secret may reach the shadow (unless forwarded by choice) or any byte
 * of the log file. Every secret value is unique to its place, so a failing check names where it leaked.
 */
import { readFile } from 'node:fs/promises';
import express from 'express';
import type http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import type { ShadowOptions } from '../lib/index.js';
import { byteCountingHandler, readRecords, recordsOfType, sendRaw, serve, startShadowServer, tempLogFile, testScope, type ReceivedRequest } from './helpers.js';

const { closeLater, mirror, startApp, cleanUp } = testScope({ failOnUnhandledRejections: true });
afterEach(cleanUp);

/** Request headers that carry credentials by default, all withheld from the shadow and masked in the log. */
const CREDENTIAL_HEADERS = [
  'authorization',
  'cookie',
  'x-api-key',
  'x-auth-token',
  'x-access-token',
  'api-key',
  'x-csrf-token',
  'x-amz-security-token',
  'x-goog-api-key',
  'ocp-apim-subscription-key',
  'x-hub-signature-256',
];
const KINDS = ['json', 'form', 'multipart', 'text-json', 'untyped-json', 'sse'] as const;
type Kind = (typeof KINDS)[number];

/** A Luhn-valid 16-digit card number, different for each `seed`. */
function cardNumber(seed: number): string {
  const base = `4${String(seed).padStart(14, '0')}`;
  for (let check = 0; check <= 9; check++) {
    const digits = base + check;
    let sum = 0;
    for (let i = 0; i < digits.length; i++) {
      let digit = Number(digits[digits.length - 1 - i]);
      if (i % 2 === 1) digit = digit * 2 > 9 ? digit * 2 - 9 : digit * 2;
      sum += digit;
    }
    if (sum % 10 === 0) return digits;
  }
  throw new Error('unreachable');
}

/** Every secret of one run, by the place it was put; values are unique, so a leak names its place. */
class Secrets {
  readonly byPlace = new Map<string, string>();
  private cards = 0;
  constructor(private readonly run: string) {}
  value(place: string): string {
    const value = `S_${this.run}_${place.replace(/[^A-Za-z0-9]/g, '_')}_Z`;
    this.byPlace.set(place, value);
    return value;
  }
  card(place: string): string {
    const value = cardNumber(++this.cards * 7919 + this.run.length);
    this.byPlace.set(place, value);
    return value;
  }
}

interface Scenario {
  name: string;
  options: Partial<ShadowOptions>;
  /** Places whose secret the shadow receives by choice. */
  forwarded: (place: string) => boolean;
  /** Places whose secret the log keeps by choice. */
  logged: (place: string) => boolean;
  /** Extra checks on the log and on what the shadow got. */
  check?: (text: string, file: string, received: ReceivedRequest[]) => Promise<void> | void;
}

const never = (): boolean => false;

const SCENARIOS: Scenario[] = [
  { name: 'the defaults', options: {}, forwarded: never, logged: never },
  {
    name: 'user lists added to the defaults',
    options: {
      redactHeaders: ['x-tenant'],
      stripHeaders: ['x-tenant'],
      redactQuery: ['tenant'],
      redact: ['$.profile.nickname'],
      redactValues: ['card', 'email', 'jwt'],
    },
    // Value masking is for the log: a JWT in a header no rule names still reaches the shadow.
    forwarded: (place) => place.includes('hdr-jwt'),
    logged: never,
  },
  {
    name: '`allow` taking names out of the defaults',
    options: { redactHeaders: { allow: ['x-csrf-token'] }, redactQuery: { allow: ['access_token'] }, redact: { allow: ['$..token'] } },
    forwarded: (place) => /hdr:x-csrf-token|query:access_token/.test(place),
    logged: (place) => /hdr:x-csrf-token|query:access_token|body:token|resp-body|sse:/.test(place),
  },
  {
    name: 'forwardCredentials listing names',
    options: { forwardCredentials: ['X-Auth-Token', 'api_key'] },
    forwarded: (place) => /hdr:x-auth-token|query:api_key/.test(place),
    logged: never,
  },
  {
    name: 'logBodies: false',
    options: { logBodies: false },
    forwarded: never,
    logged: never,
    async check(text, file) {
      expect(text).not.toContain('visible-note');
      const [production] = recordsOfType(await readRecords(file), 'production');
      expect(production!.request.body).toBeUndefined();
      expect(production!.request.bodySha256).toMatch(/^[0-9a-f]{64}$/);
      expect(production!.response.body).toBeUndefined();
    },
  },
];

/** The request of one kind: every credential header and parameter, and a body of that kind carrying its own secrets. */
function requestOf(kind: Kind, secrets: Secrets, userLists: boolean): { path: string; expectedShadowPath: string; headers: http.OutgoingHttpHeaders; body?: Buffer } {
  const headers: http.OutgoingHttpHeaders = {};
  for (const name of CREDENTIAL_HEADERS) {
    const value = secrets.value(`${kind}/hdr:${name}`);
    headers[name] = name === 'authorization' ? `Bearer ${value}` : name === 'cookie' ? `sid=${value}` : value;
  }
  headers['x-visible'] = 'visible-header';
  if (userLists) {
    headers['x-tenant'] = secrets.value(`${kind}/hdr:x-tenant`);
    headers['x-forwarded-user'] = `eyJhbGciOiJIUzI1NiJ9.${secrets.value(`${kind}/hdr-jwt:x-forwarded-user`)}.c2ln`;
  }
  const apiKey = secrets.value(`${kind}/query:api_key`);
  const accessToken = secrets.value(`${kind}/query:access_token`);
  const tenant = userLists ? `&tenant=${secrets.value(`${kind}/query:tenant`)}` : '';
  // Bytes a re-encoding would change: the shadow must get them exactly.
  const path = `/${kind}?q=caf%C3%A9+x&api_key=${apiKey}&keep=1;a&access_token=${accessToken}${tenant}&empty=&&last`;
  const expectedShadowPath = `/${kind}?q=caf%C3%A9+x&keep=1;a&empty=&&last`;

  const note = userLists
    ? `visible-note card ${secrets.card(`${kind}/value:card`)} mail ${secrets.value(`${kind}/value:email`)}@example.com`
    : 'visible-note';
  const jsonBody = (): Buffer =>
    Buffer.from(
      JSON.stringify({
        note,
        password: secrets.value(`${kind}/body:password`),
        payment: { card_number: secrets.card(`${kind}/body:card_number`), cvv: secrets.value(`${kind}/body:cvv`) },
        profile: { nickname: userLists ? secrets.value(`${kind}/body:nickname`) : 'visible-nick', token: secrets.value(`${kind}/body:token`) },
      }),
    );
  switch (kind) {
    case 'json':
      return { path, expectedShadowPath, headers: { ...headers, 'content-type': 'application/json' }, body: jsonBody() };
    case 'text-json':
      return { path, expectedShadowPath, headers: { ...headers, 'content-type': 'text/plain' }, body: jsonBody() };
    case 'untyped-json':
      return { path, expectedShadowPath, headers, body: jsonBody() };
    case 'form': {
      const form = `note=${encodeURIComponent(note)}&password=${secrets.value('form/body:password')}&user%5Bsecret%5D=${secrets.value('form/body:secret')}&client_secret=${secrets.value('form/body:client_secret')}`;
      return { path, expectedShadowPath, headers: { ...headers, 'content-type': 'application/x-www-form-urlencoded' }, body: Buffer.from(form) };
    }
    case 'multipart': {
      const boundary = 'XyZ-boundary';
      const part = (disposition: string, content: string, type?: string) =>
        `--${boundary}\r\nContent-Disposition: form-data; ${disposition}\r\n${type ? `Content-Type: ${type}\r\n` : ''}\r\n${content}\r\n`;
      const multipart =
        part('name="note"', note) +
        part('name="password"', secrets.value('multipart/body:password')) +
        part('name="upload"; filename="id-card.png"', `PNG ${secrets.value('multipart/file-bytes')}`, 'image/png') +
        `--${boundary}--\r\n`;
      return { path, expectedShadowPath, headers: { ...headers, 'content-type': `multipart/form-data; boundary=${boundary}` }, body: Buffer.from(multipart) };
    }
    case 'sse':
      return { path, expectedShadowPath, headers };
  }
}

async function runScenario(scenario: Scenario, index: number) {
  const secrets = new Secrets(`r${index}`);
  const userLists = scenario.name.startsWith('user lists');
  const shadowServer = closeLater(
    await startShadowServer((req, res) => {
      const kind = req.url.slice(1).split('?')[0];
      res.setHeader('set-cookie', `session=${secrets.value(`${kind}/shadow:set-cookie`)}`);
      res.setHeader('x-auth-token', secrets.value(`${kind}/shadow:x-auth-token`));
      if (kind === 'sse') {
        res.setHeader('content-type', 'text/event-stream');
        res.end(`data: {"token":"${secrets.value('sse/sse:shadow-event')}","delta":"Hi"}\n\ndata: [DONE]\n\n`);
      } else {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ label: 'ok', token: secrets.value(`${kind}/resp-body:shadow`) }));
      }
    }),
  );
  const logFile = await tempLogFile();
  const shadow = mirror({ target: shadowServer.url, logFile, ...scenario.options } as ShadowOptions);
  const app = await startApp(shadow, (req, res) => {
    const kind = req.path.slice(1);
    res.setHeader('set-cookie', `session=${secrets.value(`${kind}/resp:set-cookie`)}`);
    res.setHeader('x-auth-token', secrets.value(`${kind}/resp:x-auth-token`));
    if (kind === 'sse') {
      res.setHeader('content-type', 'text/event-stream');
      res.write(`data: {"token":"${secrets.value('sse/sse:prod-event-1')}","delta":"Hi"}\n\n`);
      res.end(`data: {"token":"${secrets.value('sse/sse:prod-event-2')}","delta":""}\n\ndata: [DONE]\n\n`);
    } else {
      res.json({ label: 'ok', token: secrets.value(`${kind}/resp-body:production`) });
    }
  });

  const sent = KINDS.map((kind) => ({ kind, ...requestOf(kind, secrets, userLists) }));
  for (const request of sent) {
    const response = await sendRaw(app.url, { method: request.kind === 'sse' ? 'GET' : 'POST', path: request.path, headers: request.headers, ...(request.body ? { body: request.body } : {}) });
    expect(response.status).toBe(200);
  }
  const received = await shadowServer.waitFor(sent.length);
  await shadow.close();
  return { secrets, sent, received, logFile };
}

describe('secrets and personal data, end to end', () => {
  SCENARIOS.forEach((scenario, index) => {
    it(`keeps every secret from the shadow and the log with ${scenario.name}`, async () => {
      const { secrets, sent, received, logFile } = await runScenario(scenario, index);

      // What the shadow received: headers and request-target (bodies are the model's input and go as they are).
      for (const request of sent) {
        const got = received.find((r) => r.url.startsWith(`/${request.kind}?`));
        expect(got, `shadow request for ${request.kind}`).toBeDefined();
        const seen = `${got!.url}\n${got!.rawHeaders.join('\n')}`;
        for (const [place, value] of secrets.byPlace) {
          if (!place.startsWith(`${request.kind}/hdr`) && !place.startsWith(`${request.kind}/query`)) continue;
          if (scenario.forwarded(place)) expect(seen, `${place} forwarded by choice`).toContain(value);
          else expect(seen, `${place} reached the shadow`).not.toContain(value);
        }
        expect(got!.headers['x-visible']).toBe('visible-header');
        if (!scenario.forwarded(`${request.kind}/query:api_key`) && !scenario.forwarded(`${request.kind}/query:access_token`)) {
          // Only the credential pairs are gone; every other byte of the request-target is as the client sent it.
          expect(got!.url).toBe(request.expectedShadowPath);
        }
        if (request.body) expect(got!.body.equals(request.body), `${request.kind} body mirrored byte for byte`).toBe(true);
      }

      // The raw log file: no secret byte anywhere, except what was allowed.
      const text = await readFile(logFile, 'utf8');
      for (const [place, value] of secrets.byPlace) {
        if (scenario.logged(place)) expect(text, `${place} allowed into the log`).toContain(value);
        else expect(text, `${place} leaked into the log`).not.toContain(value);
      }
      expect(text).not.toContain('"bodyEncoding":"base64"');
      expect(text).toContain('visible-header');
      await scenario.check?.(text, logFile, received);
      if (scenario.options.logBodies === undefined) {
        expect(text).toContain('visible-note');
        expect(text).toContain('"filename":"id-card.png"');
      }
    });
  });

  it('masks credential query values in the path of skipped records too', async () => {
    const shadowServer = closeLater(await startShadowServer());
    const logFile = await tempLogFile();
    const shadow = mirror({ target: shadowServer.url, logFile, maxBodyBytes: 4 });
    const app = await startApp(shadow);
    await sendRaw(app.url, { path: '/big?access_token=S_skip_token_Z&q=1', headers: { 'content-type': 'text/plain' }, body: 'more than four bytes' });
    await shadow.close();
    const [skipped] = recordsOfType(await readRecords(logFile), 'skipped');
    expect(skipped).toMatchObject({ reason: 'body_too_large', path: '/big?access_token=[REDACTED]&q=1' });
    expect(await readFile(logFile, 'utf8')).not.toContain('S_skip_token_Z');
  });

  it('masks credential query values in the logged path and keeps the rest of it', async () => {
    const { logFile } = await runScenario(SCENARIOS[0]!, 99);
    const production = recordsOfType(await readRecords(logFile), 'production').find((record) => record.path.startsWith('/json'));
    expect(production!.path).toBe('/json?q=caf%C3%A9+x&api_key=[REDACTED]&keep=1;a&access_token=[REDACTED]&empty=&&last');
    expect(production!.request.headers['x-auth-token']).toBe('[REDACTED]');
    expect(production!.response.headers['x-auth-token']).toBe('[REDACTED]');
  });
});

describe('redact, stripHeaders and redactHeaders through the middleware', () => {
  const secrets = ['hunter2', '123-45-6789', '4111-1111', 'prod-token', 'shadow-token'];

  it('redact masks JSON fields in the logged request and both answers, and in comparison differences; the shadow still gets them', async () => {
    const shadowServer = closeLater(
      await startShadowServer((_req, res) => {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ label: 'positive', token: 'shadow-token' }));
      }),
    );
    const logFile = await tempLogFile();
    const shadow = mirror({ target: shadowServer.url, logFile, redact: ['$.password', '$.user.ssn', '$.cards[*].number', '$.token'] });
    const app = await startApp(shadow, (_req, res) => {
      res.json({ label: 'positive', token: 'prod-token' });
    });
    const body = JSON.stringify({ text: 'hi', password: 'hunter2', user: { name: 'ann', ssn: '123-45-6789' }, cards: [{ number: '4111-1111' }] });
    await sendRaw(app.url, { path: '/predict', headers: { 'content-type': 'application/json' }, body });
    const [received] = await shadowServer.waitFor(1);
    expect(received!.body.toString()).toBe(body);
    await shadow.close();

    const text = await readFile(logFile, 'utf8');
    for (const secret of secrets) expect(text).not.toContain(secret);
    const records = await readRecords(logFile);
    const [production] = recordsOfType(records, 'production');
    expect(production!.request.body).toEqual({ text: 'hi', password: '[REDACTED]', user: { name: 'ann', ssn: '[REDACTED]' }, cards: [{ number: '[REDACTED]' }] });
    expect(production!.response.body).toEqual({ label: 'positive', token: '[REDACTED]' });
    expect(recordsOfType(records, 'shadow')[0]!.response!.body).toEqual({ label: 'positive', token: '[REDACTED]' });
    const [comparison] = recordsOfType(records, 'comparison');
    expect(comparison!.differences).toEqual([{ path: '$.token', production: '[REDACTED]', shadow: '[REDACTED]' }]);
  });

  it('redact masks the fields of JSON bodies too long to log whole before cutting them', async () => {
    const padding = 'x'.repeat(2000);
    const shadowServer = closeLater(
      await startShadowServer((_req, res) => {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ token: 'shadow-token', padding }));
      }),
    );
    const logFile = await tempLogFile();
    const shadow = mirror({ target: shadowServer.url, logFile, maxLoggedBodyBytes: 200, redact: ['$.password', '$.token'] });
    const app = await startApp(shadow, (_req, res) => {
      res.json({ token: 'prod-token', padding });
    });
    await sendRaw(app.url, { path: '/predict', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ password: 'hunter2', padding }) });
    await shadowServer.waitFor(1);
    await shadow.close();
    const text = await readFile(logFile, 'utf8');
    for (const secret of secrets) expect(text).not.toContain(secret);
    const records = await readRecords(logFile);
    const [production] = recordsOfType(records, 'production');
    expect(production!.request).toMatchObject({ truncated: true });
    expect(production!.request.body).toMatch(/^\{"password":"\[REDACTED\]","padding":"x+$/);
    expect(production!.response).toMatchObject({ truncated: true });
    expect(recordsOfType(records, 'shadow')[0]!.response).toMatchObject({ truncated: true });
  });

  it('redact withholds a JSON-typed body it cannot parse, rather than log it raw', async () => {
    const shadowServer = closeLater(await startShadowServer());
    const logFile = await tempLogFile();
    const shadow = mirror({ target: shadowServer.url, logFile, redact: ['$.password'] });
    const app = await startApp(shadow, byteCountingHandler().handler);
    const body = Buffer.from('{"password": "hunter2", oops');
    await sendRaw(app.url, { path: '/predict', headers: { 'content-type': 'application/json' }, body });
    const [received] = await shadowServer.waitFor(1);
    expect(received!.body.equals(body)).toBe(true);
    await shadow.close();
    const text = await readFile(logFile, 'utf8');
    expect(text).not.toContain('hunter2');
    expect(text).not.toContain(body.toString('base64'));
    const [production] = recordsOfType(await readRecords(logFile), 'production');
    expect(production!.request).toMatchObject({ body: '[REDACTED]', bodyBytes: body.length });
  });

  it('stripHeaders removes headers from the shadow request only; redactHeaders masks them in the log', async () => {
    const shadowServer = closeLater(await startShadowServer());
    const logFile = await tempLogFile();
    const shadow = mirror({ target: shadowServer.url, logFile, stripHeaders: ['X-Internal-Token'], redactHeaders: ['x-internal-token', 'x-tenant'] });
    const seenByApp: (string | string[] | undefined)[] = [];
    const app = await startApp(shadow, (req, res) => {
      seenByApp.push(req.headers['x-internal-token']);
      res.json({ ok: true });
    });
    await sendRaw(app.url, { method: 'GET', path: '/p', headers: { 'x-internal-token': 'tok-123', 'x-tenant': 'acme', authorization: 'Bearer abc' } });
    const [received] = await shadowServer.waitFor(1);
    expect(received!.headers['x-internal-token']).toBeUndefined();
    expect(received!.headers['x-tenant']).toBe('acme');
    expect(seenByApp).toEqual(['tok-123']);
    await shadow.close();
    const text = await readFile(logFile, 'utf8');
    expect(text).not.toContain('tok-123');
    expect(text).not.toContain('acme');
    const [production] = recordsOfType(await readRecords(logFile), 'production');
    expect(production!.request.headers).toMatchObject({ 'x-internal-token': '[REDACTED]', 'x-tenant': '[REDACTED]' });
  });

  it("masks set-cookie in both answers' logged headers by default", async () => {
    const shadowServer = closeLater(
      await startShadowServer((_req, res) => {
        res.setHeader('set-cookie', 'session=shadow-session');
        res.end('{}');
      }),
    );
    const logFile = await tempLogFile();
    const shadow = mirror({ target: shadowServer.url, logFile });
    const app = await startApp(shadow, (_req, res) => {
      res.cookie('session', 'prod-session').json({});
    });
    await sendRaw(app.url, { method: 'GET', path: '/p' });
    await shadowServer.waitFor(1);
    await shadow.close();
    const text = await readFile(logFile, 'utf8');
    expect(text).not.toContain('prod-session');
    expect(text).not.toContain('shadow-session');
    const records = await readRecords(logFile);
    expect(recordsOfType(records, 'production')[0]!.response.headers['set-cookie']).toBe('[REDACTED]');
    expect(recordsOfType(records, 'shadow')[0]!.response!.headers['set-cookie']).toBe('[REDACTED]');
  });

  it("never changes the app's own objects: the parsed request body and the object production answered with keep their values", async () => {
    const shadowServer = closeLater(await startShadowServer());
    const logFile = await tempLogFile();
    const shadow = mirror({ target: shadowServer.url, logFile, redact: ['$.password', '$.token'] });
    const answered = { token: 'prod-token', label: 'positive' };
    const bodies: unknown[] = [];
    const app = express();
    app.use(express.json());
    app.use(shadow);
    app.use((req, res) => {
      bodies.push(req.body);
      res.json(answered);
    });
    const server = closeLater(await serve(app));
    await sendRaw(server.url, { path: '/p', headers: { 'content-type': 'application/json' }, body: '{"password":"hunter2"}' });
    await shadowServer.waitFor(1);
    await shadow.close();
    expect(bodies).toEqual([{ password: 'hunter2' }]);
    expect(answered).toEqual({ token: 'prod-token', label: 'positive' });
    const [production] = recordsOfType(await readRecords(logFile), 'production');
    expect(production!.request).toMatchObject({ bodySource: 'parsed', body: { password: '[REDACTED]' } });
  });
});
