/**
 * Streaming models, function targets, payload translation, several candidates and the noise filter.
 */
import express from 'express';
import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { shadowMiddleware, type ShadowOptions, type ShadowRequest } from '../lib/index.js';
import { readRecords, recordsOfType, sendRaw, serve, startShadowServer, tempLogFile } from './helpers.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** An SSE endpoint that sends `tokens` one event at a time, each after the previous write has been flushed. */
function sseHandler(tokens: string[], gate?: Promise<void>) {
  return async (_req: unknown, res: http.ServerResponse) => {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    for (const [i, token] of tokens.entries()) {
      res.write(`id: ${i}\ndata: ${JSON.stringify({ choices: [{ delta: { content: token } }] })}\n\n`);
      if (i === 0 && gate) await gate;
      else await new Promise((resolve) => setImmediate(resolve));
    }
    res.end('data: [DONE]\n\n');
  };
}

/** OpenAI-style delta chunks to text. */
const assembleDeltas = (events: string[]) =>
  events
    .filter((e) => e !== '[DONE]')
    .map((e) => (JSON.parse(e) as { choices: { delta: { content?: string } }[] }).choices[0]!.delta.content ?? '')
    .join('');

async function app(options: Partial<ShadowOptions>, build: (app: express.Express) => void) {
  const logFile = await tempLogFile();
  const shadow = shadowMiddleware({ logFile, ...options } as ShadowOptions);
  const application = express();
  application.use(shadow);
  build(application);
  const server = await serve(application);
  cleanups.push(() => shadow.close(), () => server.close());
  return { shadow, server, logFile };
}

describe('streaming answers', () => {
  it('passes the production stream through unbuffered: the first event reaches the client before the handler ends', async () => {
    const shadowServer = await startShadowServer((_req, res) => void sseHandler(['Hel', 'lo'])(_req, res));
    cleanups.push(() => shadowServer.close());
    let releaseRest!: () => void;
    const rest = new Promise<void>((resolve) => (releaseRest = resolve));
    const logFile = await tempLogFile();
    const shadow = shadowMiddleware({ target: shadowServer.url, logFile, assemble: assembleDeltas });
    const application = express();
    application.post('/chat', shadow, (req, res) => void sseHandler(['Hel', 'lo'], rest)(req, res));
    const server = await serve(application);
    cleanups.push(() => server.close());

    const firstEvent = await new Promise<string>((resolve, reject) => {
      const req = http.request(`${server.url}/chat`, { method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
        res.once('data', (chunk: Buffer) => {
          resolve(chunk.toString());
          // Only now does the handler go on: the event arrived while it was still running.
          releaseRest();
          res.resume();
        });
      });
      req.on('error', reject);
      req.end('{"prompt":"hi"}');
    });
    expect(firstEvent).toContain('"content":"Hel"');
    await shadowServer.waitFor(1);
    await shadow.close();
    const records = await readRecords(logFile);
    const [production] = recordsOfType(records, 'production');
    const [shadowRecord] = recordsOfType(records, 'shadow');
    const [comparison] = recordsOfType(records, 'comparison');
    expect(production!.response.stream).toMatchObject({ chunks: 3, events: 3, assembled: 'Hello' });
    expect(production!.response.stream!.ttfbMs).toBeGreaterThanOrEqual(0);
    expect(shadowRecord!.response!.stream).toMatchObject({ events: 3, assembled: 'Hello' });
    expect(shadowRecord!.response!.stream!.chunks).toBeGreaterThanOrEqual(1);
    expect(comparison).toMatchObject({ match: true, statusMatch: true });
  });

  it('compares the assembled SSE output: different token splits of the same text match, different text does not', async () => {
    const sameText = await startShadowServer((req, res) => void sseHandler(['H', 'ello'])(req, res));
    const otherText = await startShadowServer((req, res) => void sseHandler(['Hi', ' there'])(req, res));
    cleanups.push(() => sameText.close(), () => otherText.close());
    const { server, logFile, shadow } = await app(
      { targets: [{ name: 'same', url: sameText.url }, { name: 'other', url: otherText.url }], assemble: assembleDeltas },
      (a) => a.use((req, res) => void sseHandler(['Hel', 'lo'])(req, res)),
    );
    await sendRaw(server.url, { method: 'GET', path: '/stream' });
    await Promise.all([sameText.waitFor(1), otherText.waitFor(1)]);
    await shadow.close();
    const comparisons = recordsOfType(await readRecords(logFile), 'comparison');
    const byTarget = Object.fromEntries(comparisons.map((c) => [c.target, c]));
    expect(byTarget.same!.match).toBe(true);
    expect(byTarget.other!.match).toBe(false);
  });

  it('mirrors a chunked request upload with its exact bytes and a computed content-length', async () => {
    const shadowServer = await startShadowServer();
    cleanups.push(() => shadowServer.close());
    const { server } = await app({ target: shadowServer.url }, (a) => a.post('/upload', express.raw({ type: '*/*' }), (req, res) => res.json({ n: (req.body as Buffer).length })));
    const parts = ['{"a":', '"chunked', ' upload"}'];
    const response = await new Promise<string>((resolve, reject) => {
      const req = http.request(`${server.url}/upload`, { method: 'POST', headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' } }, (res) => {
        let text = '';
        res.on('data', (c) => (text += c));
        res.on('end', () => resolve(text));
      });
      req.on('error', reject);
      for (const part of parts) req.write(part);
      req.end();
    });
    expect(JSON.parse(response)).toEqual({ n: parts.join('').length });
    const [received] = await shadowServer.waitFor(1);
    expect(received!.body.toString()).toBe(parts.join(''));
    expect(received!.headers['content-length']).toBe(String(parts.join('').length));
    expect(received!.headers['transfer-encoding']).toBeUndefined();
  });
});

describe('function targets', () => {
  it('calls the function with the captured request and logs and compares its answer', async () => {
    const calls: ShadowRequest[] = [];
    const { server, logFile, shadow } = await app(
      {
        name: 'sagemaker-v2',
        target: async (request) => {
          calls.push(request);
          return { status: 200, headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ label: 'negative' }) };
        },
      },
      (a) => a.post('/predict', express.json(), (_req, res) => res.json({ label: 'positive' })),
    );
    await sendRaw(server.url, { path: '/predict?x=1', body: '{"text":"meh"}', headers: { 'content-type': 'application/json', authorization: 'secret' } });
    await shadow.close();
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({ method: 'POST', path: '/predict?x=1', json: { text: 'meh' } });
    expect(calls[0]!.body!.toString()).toBe('{"text":"meh"}');
    expect(calls[0]!.headers.authorization).toBeUndefined();
    const records = await readRecords(logFile);
    expect(recordsOfType(records, 'shadow')[0]).toMatchObject({ target: 'sagemaker-v2', status: 200, response: { body: { label: 'negative' } } });
    expect(recordsOfType(records, 'comparison')[0]).toMatchObject({ match: false, differences: [{ path: '$.label', production: 'positive', shadow: 'negative' }] });
  });

  it('records a function that throws as a failure with its code, and counts it', async () => {
    const { server, logFile, shadow } = await app(
      { name: 'broken', target: async () => { throw Object.assign(new Error('ThrottlingException: slow down'), { code: 'ThrottlingException' }); } },
      (a) => a.get('/p', (_req, res) => res.send('ok')),
    );
    await sendRaw(server.url, { method: 'GET', path: '/p' });
    await shadow.close();
    const [record] = recordsOfType(await readRecords(logFile), 'shadow');
    expect(record!.error).toEqual({ code: 'ThrottlingException', message: 'ThrottlingException: slow down' });
    expect(shadow.stats().failed).toEqual({ ThrottlingException: 1 });
  });

  it('aborts a function that outlasts the timeout through its signal, and stops waiting for it', async () => {
    let sawAbort: Promise<unknown> | undefined;
    const { server, logFile, shadow } = await app(
      {
        name: 'hanging',
        timeoutMs: 100,
        // Ignores the signal for its answer (never resolves), but reports that it was aborted.
        target: (_request, { signal }) => {
          sawAbort = new Promise((resolve) => signal.addEventListener('abort', () => resolve(signal.reason)));
          return new Promise(() => {});
        },
      },
      (a) => a.get('/p', (_req, res) => res.send('ok')),
    );
    const response = await sendRaw(server.url, { method: 'GET', path: '/p' });
    expect(response.body.toString()).toBe('ok');
    await shadow.close({ timeoutMs: 5000 });
    expect(await sawAbort).toBeInstanceOf(DOMException);
    const [record] = recordsOfType(await readRecords(logFile), 'shadow');
    expect(record!.error!.code).toBe('timeout');
  });

  it('reads a streamed function answer (async iterable) with its measurements', async () => {
    const { server, logFile, shadow } = await app(
      {
        name: 'stream-fn',
        target: async () => ({
          status: 200,
          headers: { 'content-type': 'application/x-ndjson' },
          body: (async function* () {
            yield '{"t":"a"}\n';
            yield '{"t":"b"}\n';
          })(),
        }),
      },
      (a) => a.get('/p', (_req, res) => res.type('application/x-ndjson').send('{"t":"a"}\n{"t":"b"}\n')),
    );
    await sendRaw(server.url, { method: 'GET', path: '/p' });
    await shadow.close();
    const records = await readRecords(logFile);
    expect(recordsOfType(records, 'shadow')[0]!.response!.stream).toMatchObject({ chunks: 2, events: 2 });
  });
});

describe('translation', () => {
  it('rewrites the request for the shadow and normalises its answer before comparison, logging the raw answer', async () => {
    const shadowServer = await startShadowServer((req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ prediction: { label: JSON.parse(req.body.toString()).inputs.length > 3 ? 'positive' : 'negative' } }));
    });
    cleanups.push(() => shadowServer.close());
    const { server, logFile, shadow } = await app(
      {
        target: shadowServer.url,
        transformRequest: (request) => ({
          path: '/invocations',
          headers: { 'content-type': 'application/json', authorization: 'Bearer shadow-own-token' },
          body: { inputs: (request.json as { text: string }).text },
        }),
        transformResponse: (answer) => ({ ...answer, json: (answer.json as { prediction: unknown }).prediction }),
      },
      (a) => a.post('/predict', express.json(), (_req, res) => res.json({ label: 'positive' })),
    );
    await sendRaw(server.url, { path: '/predict', body: '{"text":"lovely"}', headers: { 'content-type': 'application/json' } });
    const [received] = await shadowServer.waitFor(1);
    expect(received!.url).toBe('/invocations');
    expect(JSON.parse(received!.body.toString())).toEqual({ inputs: 'lovely' });
    expect(received!.headers.authorization).toBe('Bearer shadow-own-token');
    expect(received!.headers['x-request-id']).toBeDefined();
    await shadow.close();
    const records = await readRecords(logFile);
    expect(recordsOfType(records, 'shadow')[0]!.response!.body).toEqual({ prediction: { label: 'positive' } });
    expect(recordsOfType(records, 'comparison')[0]).toMatchObject({ match: true });
  });

  it('logs transforms that throw as shadow failures with the requestId', async () => {
    const shadowServer = await startShadowServer();
    cleanups.push(() => shadowServer.close());
    const { server, logFile, shadow } = await app(
      {
        targets: [
          { name: 'bad-request-transform', url: shadowServer.url, transformRequest: () => { throw new Error('no field text'); } },
          { name: 'bad-response-transform', url: shadowServer.url, transformResponse: () => { throw new Error('unexpected shape'); } },
        ],
      },
      (a) => a.get('/p', (_req, res) => res.json({ label: 'positive' })),
    );
    await sendRaw(server.url, { method: 'GET', path: '/p', headers: { 'x-request-id': 'req-42' } });
    await shadow.close();
    const records = await readRecords(logFile);
    const shadows = Object.fromEntries(recordsOfType(records, 'shadow').map((r) => [r.target, r]));
    const [production] = recordsOfType(records, 'production');
    expect(production).toMatchObject({ clientRequestId: 'req-42' });
    const requestId = production!.requestId;
    expect(shadows['bad-request-transform']).toMatchObject({ requestId, error: { code: 'transform_error', message: 'transformRequest threw: no field text' } });
    expect(shadows['bad-response-transform']).toMatchObject({ requestId, status: 200 });
    const [comparison] = recordsOfType(records, 'comparison');
    expect(comparison).toMatchObject({ requestId, target: 'bad-response-transform', match: false, error: 'transformResponse threw: unexpected shape' });
    expect(shadow.stats().failed).toEqual({ transform_error: 2 });
    expect(shadowServer.received).toHaveLength(1);
  });
});

describe('several candidates', () => {
  it('mirrors to three candidates, each with its own sample rate, records and stats', async () => {
    const v2 = await startShadowServer((_req, res) => res.end('{"label":"positive"}'));
    const v3 = await startShadowServer((_req, res) => res.end('{"label":"negative"}'));
    cleanups.push(() => v2.close(), () => v3.close());
    const fnCalls: string[] = [];
    const { server, logFile, shadow } = await app(
      {
        targets: [
          { name: 'v2', url: v2.url },
          { name: 'v3', url: v3.url, sampleRate: 0 },
          { name: 'v4', target: async (r) => { fnCalls.push(r.requestId); return { status: 503, body: 'overloaded' }; } },
        ],
      },
      (a) => a.get('/p', (_req, res) => res.json({ label: 'positive' })),
    );
    for (let i = 0; i < 5; i++) await sendRaw(server.url, { method: 'GET', path: '/p' });
    await v2.waitFor(5);
    await shadow.close();
    expect(v3.received).toHaveLength(0);
    expect(fnCalls).toHaveLength(5);
    const records = await readRecords(logFile);
    const shadows = recordsOfType(records, 'shadow');
    expect(shadows.filter((r) => r.target === 'v2')).toHaveLength(5);
    expect(shadows.filter((r) => r.target === 'v4').map((r) => r.status)).toEqual([503, 503, 503, 503, 503]);
    expect(recordsOfType(records, 'production')).toHaveLength(5);
    const stats = shadow.stats();
    expect(stats.targets.v2).toMatchObject({ mirrored: 5, succeeded: 5, breaker: 'closed' });
    expect(stats.targets.v3).toMatchObject({ mirrored: 0, sampleRate: 0 });
    expect(stats.targets.v4).toMatchObject({ mirrored: 5, succeeded: 0, failed: { status_5xx: 5 }, breaker: 'open' });
    const comparisons = recordsOfType(records, 'comparison');
    expect(comparisons.filter((c) => c.target === 'v2').map((c) => c.match)).toEqual([true, true, true, true, true]);
  });
});

describe('noise from a secondary replica of production', () => {
  it('marks candidate differences that production and its own replica also show, and reports the match without them', async () => {
    let counter = 0;
    // Production and its replica both put a fresh request counter in `$.generatedAt`: non-deterministic.
    const answer = (label: string) => JSON.stringify({ label, generatedAt: ++counter });
    const secondary = await startShadowServer((_req, res) => res.setHeader('content-type', 'application/json').end(answer('positive')));
    const candidate = await startShadowServer((req, res) => {
      const text = JSON.parse(req.body.toString()).text as string;
      res.setHeader('content-type', 'application/json');
      res.end(answer(text === 'flip' ? 'negative' : 'positive'));
    });
    cleanups.push(() => secondary.close(), () => candidate.close());
    const { server, logFile, shadow } = await app(
      { targets: [{ name: 'v2', url: candidate.url }], secondary: secondary.url },
      (a) => a.post('/predict', express.json(), (_req, res) => res.type('json').send(answer('positive'))),
    );
    for (const text of ['same', 'flip']) {
      await sendRaw(server.url, { path: '/predict', body: JSON.stringify({ text }), headers: { 'content-type': 'application/json' } });
    }
    await Promise.all([secondary.waitFor(2), candidate.waitFor(2)]);
    await shadow.close();
    const records = await readRecords(logFile);
    const comparisons = recordsOfType(records, 'comparison');
    const secondaryComparisons = comparisons.filter((c) => c.role === 'secondary');
    expect(secondaryComparisons).toHaveLength(2);
    expect(secondaryComparisons.every((c) => c.differences.map((d) => d.path).join() === '$.generatedAt')).toBe(true);
    const v2 = comparisons.filter((c) => c.target === 'v2');
    const production = recordsOfType(records, 'production');
    const textOf = (id: string) => (production.find((p) => p.requestId === id)!.request.body as { text: string }).text;
    const same = v2.find((c) => textOf(c.requestId) === 'same')!;
    const flip = v2.find((c) => textOf(c.requestId) === 'flip')!;
    expect(same).toMatchObject({ match: false, noise: ['$.generatedAt'], matchWithoutNoise: true });
    expect(flip).toMatchObject({ match: false, noise: ['$.generatedAt'], matchWithoutNoise: false });
    expect(recordsOfType(records, 'shadow').filter((r) => r.role === 'secondary')).toHaveLength(2);
  });
});
