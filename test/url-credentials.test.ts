/**
 * Credentials in every URL-shaped value we log or forward: the userinfo of an absolute-form request-target, and the
 * query or fragment of `Location`, `Referer`, `Content-Location`, `Link`, `Refresh` and any other header, go through
 * the same rules as the request's own query. Real app, real shadow, the log file read back byte for byte; every
 * secret is unique to its place, so a leak names where it came from.
 */
import { readFile } from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
import type { ShadowOptions } from '../lib/index.js';
import { exchangeRaw, readRecords, recordsOfType, sendRaw, startShadowServer, tempLogFile, testScope } from './helpers.js';

const { closeLater, mirror, startApp, cleanUp } = testScope();
afterEach(cleanUp);

/** Secrets in the log file: none may appear, whatever the record or field. */
async function leaksIn(file: string, secrets: string[]): Promise<string[]> {
  const text = await readFile(file, 'utf8');
  return secrets.filter((secret) => text.includes(secret));
}

describe('the request-target', () => {
  it('masks the user:password@ of an absolute-form target in the logged path, and never sends it to the shadow', async () => {
    const shadowServer = closeLater(await startShadowServer());
    const logFile = await tempLogFile();
    const shadow = mirror({ target: shadowServer.url, logFile });
    const app = await startApp(shadow);
    const answer = await exchangeRaw(
      app.port,
      `GET http://ada:S_userinfo_pw@127.0.0.1:${app.port}/predict?q=1&api_key=S_target_key HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`,
    );
    expect(answer).toMatch(/^HTTP\/1.1 200/);
    await shadow.whenIdle();
    const [production] = recordsOfType(await readRecords(logFile), 'production');
    expect(production!.path).toBe(`http://[REDACTED]@127.0.0.1:${app.port}/predict?q=1&api_key=[REDACTED]`);
    expect(await leaksIn(logFile, ['S_userinfo_pw', 'ada:', 'S_target_key'])).toEqual([]);
    expect(shadowServer.received.map((r) => r.url)).toEqual(['/predict?q=1']);
  });

  it('masks userinfo and credentials in the path of a skipped record, a fragment, and a URL pasted unencoded into the query', async () => {
    const shadowServer = closeLater(await startShadowServer());
    const logFile = await tempLogFile();
    const shadow = mirror({ target: shadowServer.url, logFile, maxBodyBytes: 8 });
    const app = await startApp(shadow);
    // Over maxBodyBytes: skipped, and its record carries the path.
    await exchangeRaw(
      app.port,
      `POST https://bob:S_skip_pw@example.test/upload?ok=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 64\r\nConnection: close\r\n\r\n${'x'.repeat(64)}`,
    );
    // Raw: an HTTP client would not send the fragment, a hostile one does.
    await exchangeRaw(app.port, 'GET /cb?next=/after?token=S_nested_token&x=1#access_token=S_frag_token&state=ok HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
    await shadow.whenIdle();
    const records = await readRecords(logFile);
    const [skipped] = recordsOfType(records, 'skipped');
    expect(skipped!.path).toBe('https://[REDACTED]@example.test/upload?ok=1');
    const [production] = recordsOfType(records, 'production');
    expect(production!.path).toBe('/cb?next=/after?token=[REDACTED]&x=1#access_token=[REDACTED]&state=ok');
    expect(await leaksIn(logFile, ['S_skip_pw', 'bob:', 'S_nested_token', 'S_frag_token'])).toEqual([]);
    // The shadow gets the target without the nested credential; the rest byte for byte.
    expect(shadowServer.received.map((r) => r.url)).toEqual(['/cb?next=/after?x=1#state=ok']);
  });
});

describe('URLs in headers', () => {
  it("masks credentials in production's and the shadow's Location, Content-Location, Link and Refresh, keeping every other byte", async () => {
    const shadowServer = closeLater(
      await startShadowServer((_req, res) => {
        res.setHeader('content-type', 'application/json');
        res.setHeader('location', 'https://auth.example/done?client_secret=S_shadow_location&ok=1');
        res.end('{"label":"positive"}');
      }),
    );
    const logFile = await tempLogFile();
    const shadow = mirror({ target: shadowServer.url, logFile });
    const app = await startApp(shadow, (_req, res) => {
      res.setHeader('location', '/login?password=S_location_pw&next=%2Fhome');
      res.setHeader('content-location', 'https://svc:S_cl_user_pw@files.example/x?sig=S_cl_sig');
      res.setHeader('link', '<https://api.example/x?page=2&access_token=S_link_token>; rel="next", <https://api.example/y#id_token=S_link_fragment&state=ok>; rel="alt"');
      res.setHeader('refresh', '0; url=/go?session=S_refresh_session');
      res.status(302).json({ label: 'positive' });
    });
    await sendRaw(app.url, { method: 'GET', path: '/predict' });
    await shadow.whenIdle();
    const records = await readRecords(logFile);
    const headers = recordsOfType(records, 'production')[0]!.response.headers;
    expect(headers.location).toBe('/login?password=[REDACTED]&next=%2Fhome');
    expect(headers['content-location']).toBe('https://[REDACTED]@files.example/x?sig=[REDACTED]');
    expect(headers.link).toBe('<https://api.example/x?page=2&access_token=[REDACTED]>; rel="next", <https://api.example/y#id_token=[REDACTED]&state=ok>; rel="alt"');
    expect(headers.refresh).toBe('0; url=/go?session=[REDACTED]');
    expect(recordsOfType(records, 'shadow')[0]!.response!.headers.location).toBe('https://auth.example/done?client_secret=[REDACTED]&ok=1');
    expect(await leaksIn(logFile, ['S_location_pw', 'S_cl_user_pw', 'S_cl_sig', 'S_link_token', 'S_link_fragment', 'S_refresh_session', 'S_shadow_location'])).toEqual([]);
  });

  it('removes credentials from a forwarded Referer (and any URL-valued request header) and masks them in the log', async () => {
    const shadowServer = closeLater(await startShadowServer());
    const logFile = await tempLogFile();
    const shadow = mirror({ target: shadowServer.url, logFile });
    const app = await startApp(shadow);
    await sendRaw(app.url, {
      method: 'GET',
      path: '/predict',
      headers: {
        referer: 'https://app.example/page?q=ok&access_token=S_referer_token#top',
        'x-callback-url': 'https://bot:S_callback_pw@hooks.example/cb?session=S_callback_session',
        'x-plain': 'no url here?',
      },
    });
    await shadow.whenIdle();
    const [received] = await shadowServer.waitFor(1);
    expect(received!.headers.referer).toBe('https://app.example/page?q=ok#top');
    expect(received!.headers['x-callback-url']).toBe('https://hooks.example/cb');
    expect(received!.headers['x-plain']).toBe('no url here?');
    const headers = recordsOfType(await readRecords(logFile), 'production')[0]!.request.headers;
    expect(headers.referer).toBe('https://app.example/page?q=ok&access_token=[REDACTED]#top');
    expect(headers['x-callback-url']).toBe('https://[REDACTED]@hooks.example/cb?session=[REDACTED]');
    expect(await leaksIn(logFile, ['S_referer_token', 'S_callback_pw', 'S_callback_session'])).toEqual([]);
  });

  const choices: { name: string; options: Partial<ShadowOptions>; forwarded: string; logged: string }[] = [
    {
      name: 'a name added with redactQuery',
      options: { redactQuery: ['tenant'] },
      forwarded: 'https://app.example/p?q=1',
      logged: 'https://app.example/p?tenant=[REDACTED]&q=1',
    },
    {
      name: 'a name forwarded by choice (forwardCredentials)',
      options: { forwardCredentials: ['tenant', 'access_token'], redactQuery: ['tenant'] },
      forwarded: 'https://app.example/p?tenant=S_choice_tenant&q=1',
      logged: 'https://app.example/p?tenant=[REDACTED]&q=1',
    },
  ];
  for (const choice of choices) {
    it(`applies the user's query rules to the Referer too: ${choice.name}`, async () => {
      const shadowServer = closeLater(await startShadowServer());
      const logFile = await tempLogFile();
      const shadow = mirror({ target: shadowServer.url, logFile, ...choice.options } as ShadowOptions);
      const app = await startApp(shadow);
      await sendRaw(app.url, { method: 'GET', path: '/predict', headers: { referer: 'https://app.example/p?tenant=S_choice_tenant&q=1' } });
      await shadow.whenIdle();
      const [received] = await shadowServer.waitFor(1);
      expect(received!.headers.referer).toBe(choice.forwarded);
      expect(recordsOfType(await readRecords(logFile), 'production')[0]!.request.headers.referer).toBe(choice.logged);
      expect(await leaksIn(logFile, ['S_choice_tenant'])).toEqual([]);
    });
  }
});
