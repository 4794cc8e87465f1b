/**
 * Request faults: a call that failed because of the request's shape (the engine could not send it, or the shadow's
 * HTTP server refused it before any model saw it) is recorded as such and kept out of the report's criteria, shown
 * on its own; a model that rejects its input is still a model error. Real app, a real shadow with the limits of a
 * common Python server (100 header fields, a 4,094-byte request line), the log read back by the report.
 */
import type http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import type { ShadowRecord } from '../lib/index.js';
import { buildReport } from '../lib/report/index.js';
import { exchangeRaw, readRecords, recordsOfType, startShadowServer, tempLogFile, testScope, type ReceivedRequest } from './helpers.js';

const { closeLater, mirror, startApp, cleanUp } = testScope();
afterEach(cleanUp);

/** gunicorn's defaults: more than 100 header fields is a 400, a request line over 4,094 bytes a 414; both close. */
function strictServer(req: ReceivedRequest, res: http.ServerResponse): void {
  if (req.rawHeaders.length / 2 > 100) {
    res.writeHead(400, { connection: 'close', 'content-type': 'text/html' }).end('<h1><p>Bad Request</p></h1>Limit request headers fields');
  } else if (req.url.length > 4094) {
    res.writeHead(414, { connection: 'close', 'content-type': 'text/html' }).end('<h1><p>Request-URI Too Long</p></h1>');
  } else if (req.body.includes('"bad"')) {
    // The model rejecting its input: an answer of the application, on a connection kept open.
    res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":"invalid input"}');
  } else {
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"label":"positive"}');
  }
}

const manyHeaders = Array.from({ length: 1000 }, (_, i) => `x-h${i}: ${i}`);

/**
 * One request as a client such as curl writes it, `Host` first: Node keeps only the first 1,000 or so header fields
 * of a request, so a `Host` after 1,000 others would be dropped and production itself would answer 400.
 */
async function send(port: number, options: { method?: string; path?: string; headers?: string[]; body?: string }): Promise<number> {
  const body = options.body ?? '';
  const head = [
    `${options.method ?? 'POST'} ${options.path ?? '/predict'} HTTP/1.1`,
    'Host: 127.0.0.1',
    ...(body ? ['Content-Type: application/json', `Content-Length: ${Buffer.byteLength(body)}`] : []),
    ...(options.headers ?? []),
    'Connection: close',
  ];
  const answer = await exchangeRaw(port, `${head.join('\r\n')}\r\n\r\n${body}`);
  return Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1]);
}

describe('request faults', () => {
  it('a 1,000-header request, a huge query and a header section the engine cannot send are request faults, kept out of the errors criterion and shown apart', async () => {
    const shadowServer = closeLater(await startShadowServer(strictServer));
    const logFile = await tempLogFile();
    const shadow = mirror({ target: shadowServer.url, logFile });
    const app = await startApp(shadow, (_req, res) => void res.json({ label: 'positive' }));
    const ok = '{"text":"ok"}';
    const requests = [
      ...Array.from({ length: 74 }, () => ({ body: ok })),
      // The model rejects these: model errors, compared as such.
      ...Array.from({ length: 6 }, () => ({ body: '{"bad":true}' })),
      // Production (Node) takes 1,000 headers; the shadow's server refuses more than 100.
      ...Array.from({ length: 6 }, () => ({ body: ok, headers: manyHeaders })),
      ...Array.from({ length: 4 }, () => ({ body: ok, path: `/predict?q=${'a'.repeat(6000)}` })),
      // Under Node's 16 KiB for production, over it once the shadow's own headers are added: never sent.
      ...Array.from({ length: 6 }, () => ({ body: ok, headers: [`X-Blob: ${'b'.repeat(16_000)}`] })),
    ];
    for (const request of requests) expect(await send(app.port, request)).toBe(200);
    await shadow.whenIdle();

    const shadows = recordsOfType(await readRecords(logFile), 'shadow');
    expect(shadows).toHaveLength(96);
    const reasonOf = (record: ShadowRecord) => record.error?.code ?? String(record.status);
    const faults = shadows.filter((record) => record.requestFault === true).map(reasonOf);
    expect(faults.sort()).toEqual([...Array(6).fill('400'), ...Array(4).fill('414'), ...Array(6).fill('request_headers_too_large')]);
    // The model's own 400s are not request faults.
    expect(shadows.filter((record) => record.status === 400 && record.requestFault === undefined)).toHaveLength(6);

    const report = await buildReport(logFile);
    expect(report.totals).toMatchObject({ requestFaults: 16, requestFaultsByReason: { 400: 6, 414: 4, request_headers_too_large: 6 }, shadowCalls: 80, shadowErrors: 0 });
    // Agreement is judged on the 80 calls the model answered: 74 matches, 6 model errors.
    expect(report.match.overall).toMatchObject({ count: 74, total: 80 });
    const errors = report.verdict.criteria.find((c) => c.criterion === 'errors' && c.route === null)!;
    expect(errors).toMatchObject({ status: 'pass', estimate: 0 });
  });

  it('keeps request faults apart per call: another candidate that answered the same request is still judged', async () => {
    const strict = closeLater(await startShadowServer(strictServer));
    const lenient = closeLater(await startShadowServer());
    const logFile = await tempLogFile();
    const shadow = mirror({ targets: [{ url: strict.url, name: 'strict' }, { url: lenient.url, name: 'lenient' }], logFile });
    const app = await startApp(shadow, (_req, res) => void res.json({ label: 'positive', model: 'shadow' }));
    // 150 header fields: over the strict server's 100, well under what Node keeps.
    for (let i = 0; i < 5; i++) expect(await send(app.port, { method: 'GET', headers: manyHeaders.slice(0, 150) })).toBe(200);
    await shadow.whenIdle();
    const report = await buildReport(logFile);
    expect(report.totals).toMatchObject({ requestFaults: 5, requestFaultsByReason: { 400: 5 }, shadowCalls: 5 });
    expect(report.match.byTarget.map((t) => [t.target, t.shadowCalls, t.match.total])).toEqual([['lenient', 5, 5]]);
  });

  it('a request of 1,000 header fields reaches a Node shadow with every one production kept, Host and the request id first; not a request fault', async () => {
    const shadowServer = closeLater(await startShadowServer());
    const logFile = await tempLogFile();
    const shadow = mirror({ target: shadowServer.url, logFile });
    const app = await startApp(shadow, (_req, res) => void res.json({ label: 'positive', model: 'shadow' }));
    // Host, 996 of ours, a credential, trace context and Connection: 1,000 fields, all of which Node keeps.
    const headers = [...manyHeaders.slice(0, 996), 'Authorization: Bearer S_secret', 'Traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'];
    expect(await send(app.port, { method: 'POST', headers, body: '{"text":"ok"}' })).toBe(200);
    await shadow.whenIdle();
    const [received] = await shadowServer.waitFor(1);
    const names = received!.rawHeaders.filter((_, i) => i % 2 === 0).map((name) => name.toLowerCase());
    // The target's Host and the mirror's own headers first, then the client's headers without hop-by-hop ones,
    // credentials and trace context (the HTTP client writes `content-length` last).
    expect(names.slice(0, 4).sort()).toEqual(['connection', 'host', 'x-request-id', 'x-shadow-request']);
    expect(names).toContain('content-length');
    expect(names.filter((name) => name.startsWith('x-h'))).toHaveLength(996);
    expect(names).not.toContain('authorization');
    expect(names).not.toContain('traceparent');
    expect(received!.body.toString()).toBe('{"text":"ok"}');
    const [record] = recordsOfType(await readRecords(logFile), 'shadow');
    expect(record).toMatchObject({ status: 200 });
    expect(record!.requestFault).toBeUndefined();
  });

  it('past 1,000 fields, where Node drops the rest, the shadow still gets the request id', async () => {
    const shadowServer = closeLater(await startShadowServer());
    const logFile = await tempLogFile();
    const shadow = mirror({ target: shadowServer.url, logFile });
    const app = await startApp(shadow, (_req, res) => void res.json({ label: 'positive', model: 'shadow' }));
    const many = Array.from({ length: 1500 }, (_, i) => `x-h${i}: ${i}`);
    expect(await send(app.port, { method: 'GET', headers: many })).toBe(200);
    await shadow.whenIdle();
    const [received] = await shadowServer.waitFor(1);
    const [production] = recordsOfType(await readRecords(logFile), 'production');
    expect(received!.headers['x-request-id']).toBe(production!.requestId);
  });
});
