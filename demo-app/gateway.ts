/**
 * The gateway: the app a user of express-shadow already has. It serves `POST /predict` by asking the production
 * model, and `POST /generate` by streaming the production model's explanation through (Server-Sent Events), and
 * express-shadow mirrors each of those requests to the candidate model after production has answered. `GET /metrics`
 * exposes express-shadow's Prometheus metrics; it and `GET /health` are not mirrored.
 *
 *   PROD_MODEL_URL=http://127.0.0.1:8001 SHADOW_MODEL_URL=http://127.0.0.1:8002 tsx demo-app/gateway.ts
 *
 * Environment:
 *   PROD_MODEL_URL     base URL of the production model; default http://127.0.0.1:8001
 *   SHADOW_MODEL_URL   base URL of the shadow model; default http://127.0.0.1:8002
 *   SECONDARY_MODEL_URL  base URL of a second replica of the production model (optional): it answers every mirrored
 *                      request too, and how it differs from production is the noise the report measures
 *   SHADOW_LOG_FILE    where express-shadow writes its JSON lines; default demo-app/logs/shadow.log
 *   PORT, HOST         where the gateway listens; default 3000 on 127.0.0.1 (PORT=0 picks a free port)
 *
 * Both model URLs are base URLs: the production call goes to `$PROD_MODEL_URL/predict` (or `/generate`), and
 * express-shadow appends the request's own path, so the mirror goes to `$SHADOW_MODEL_URL/predict` (or `/generate`).
 *
 * On SIGTERM or SIGINT it stops accepting requests, lets the ones in progress finish, then drains the shadow
 * (`await shadow.close()`), which waits for mirrored calls still in flight and flushes the log.
 */
import express from 'express';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { shadowMiddleware, shadowRequestId, type ShadowMiddleware } from 'express-shadow';
import { Registry } from 'prom-client';
import { announce, isMain, onStop } from './support/lifecycle.js';

export interface GatewayOptions {
  /** Base URL of the production model (v1). */
  prodModelUrl: string;
  /** Base URL of the shadow model (v2). */
  shadowModelUrl: string;
  /** Base URL of a second production replica (v1 again), to measure how much production varies from itself. */
  secondaryModelUrl?: string | undefined;
  /** The express-shadow log file. */
  logFile: string;
}

export interface Gateway {
  app: express.Express;
  shadow: ShadowMiddleware;
  /** The Prometheus registry behind `GET /metrics`, with express-shadow's metrics on it. */
  registry: Registry;
}

/** How long the gateway waits for the production model (for /generate: for its first byte) before answering 502. */
const PRODUCTION_TIMEOUT_MS = 2000;

/**
 * The compared output of a streamed answer: the model streams OpenAI-style delta chunks
 * (`data: {"choices":[{"delta":{"content":"Hel"}}]}` ... `data: [DONE]`), and what it said is their contents joined.
 * Without this, express-shadow would compare the raw `data:` payloads, which carry the model's name.
 */
function assembleDeltas(events: string[]): string {
  return events
    .filter((event) => event !== '[DONE]')
    .map((event) => (JSON.parse(event) as { choices: { delta?: { content?: string } }[] }).choices[0]?.delta?.content ?? '')
    .join('');
}

export function createGateway({ prodModelUrl, shadowModelUrl, secondaryModelUrl, logFile }: GatewayOptions): Gateway {
  const predictUrl = `${prodModelUrl.replace(/\/+$/, '')}/predict`;
  const generateUrl = `${prodModelUrl.replace(/\/+$/, '')}/generate`;

  const shadow = shadowMiddleware({
    target: shadowModelUrl,
    // The name the shadow's records carry, and the report shows.
    name: 'sentiment-v2',
    logFile,
    // A shadow slower than this is logged as a timeout; production never waits for it either way.
    timeoutMs: 2000,
    // Production's replica: v1 again. Its answers say how much production differs from itself (on /generate it words
    // its sentences its own way), which is what the report judges the candidate against.
    ...(secondaryModelUrl ? { secondary: secondaryModelUrl } : {}),
    compare: {
      // /predict: "match" means the same label. The other fields always differ between two models and say nothing
      // about agreement: `model` and `version` name the model that answered, and `score` is each model's own scale.
      // Scores still go to the log, and the report's confusion matrix is built from `$.label`.
      ignorePaths: ['$.model', '$.version', '$.score'],
      // /generate: the streamed sentence (assembled below) is generated text, worded differently on every call. It
      // matches when it shares enough words with production's (token F1 at or above 0.4), and every comparison
      // records its score for the report's similarity section and criterion.
      similarity: { $: 'token-f1' },
    },
    // For /generate: turn the streamed delta chunks into the text the two models said, which is what is compared.
    assemble: assembleDeltas,
    // One summary record (requests seen / left out) every 10 s instead of every minute, so a short run shows some.
    summaryIntervalMs: 10_000,
  });

  // express-shadow's Prometheus metrics (requests mirrored, comparisons by outcome, shadow latency, breaker...) on
  // the app's own registry. A registry per gateway rather than prom-client's global one, so tests can make several.
  const registry = new Registry();
  shadow.registerMetrics(registry);

  const app = express();
  app.disable('x-powered-by');

  // Not mirrored: the shadow is mounted on /predict and /generate only.
  app.get('/health', (_req, res) => {
    res.json({ ok: true });
  });
  app.get('/metrics', async (_req, res) => {
    res.type(registry.contentType).send(await registry.metrics());
  });

  // The shadow goes before the body parser, so it mirrors the exact bytes the client sent ("bodySource": "raw").
  app.post('/predict', shadow, express.json({ limit: '64kb' }), async (req, res) => {
    const text = textOf(req, res);
    if (text === undefined) return;
    const requestId = exposeRequestId(req, res);
    try {
      const answer = await fetch(predictUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(requestId ? { 'x-request-id': requestId } : {}) },
        body: JSON.stringify({ text }),
        signal: AbortSignal.timeout(PRODUCTION_TIMEOUT_MS),
      });
      res.status(answer.status).json(await answer.json());
    } catch (error) {
      res.status(502).json({ error: `production model unavailable: ${error instanceof Error ? error.message : String(error)}` });
    }
  });

  // A streaming route: the production model's Server-Sent Events go through to the client as they come, unbuffered.
  // express-shadow only watches what is written (time to first byte, chunks, events), then mirrors the request and
  // reads the shadow's stream in full.
  app.post('/generate', shadow, express.json({ limit: '64kb' }), async (req, res) => {
    const text = textOf(req, res);
    if (text === undefined) return;
    const requestId = exposeRequestId(req, res);
    // Stop asking production when the client goes away, or when production has not started answering in time.
    const abort = new AbortController();
    res.on('close', () => abort.abort());
    const firstByte = setTimeout(() => abort.abort(new Error(`no answer within ${PRODUCTION_TIMEOUT_MS} ms`)), PRODUCTION_TIMEOUT_MS);
    let answer: Response;
    try {
      answer = await fetch(generateUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'text/event-stream', ...(requestId ? { 'x-request-id': requestId } : {}) },
        body: JSON.stringify({ text }),
        signal: abort.signal,
      });
    } catch (error) {
      if (!res.headersSent && !res.destroyed) {
        res.status(502).json({ error: `production model unavailable: ${error instanceof Error ? error.message : String(error)}` });
      }
      return;
    } finally {
      clearTimeout(firstByte);
    }
    res.status(answer.status);
    res.setHeader('content-type', answer.headers.get('content-type') ?? 'application/octet-stream');
    if (!answer.body) {
      res.end();
      return;
    }
    res.setHeader('cache-control', 'no-cache');
    try {
      // Each chunk is written as it arrives; the response ends when production's stream does.
      await pipeline(Readable.fromWeb(answer.body as WebReadableStream<Uint8Array>), res);
    } catch {
      // Production dropped the stream, or the client left: the client's response is cut off too (pipeline
      // destroyed it), and express-shadow does not mirror a request whose answer never finished.
    }
  });

  return { app, shadow, registry };
}

async function main(): Promise<void> {
  const prodModelUrl = process.env.PROD_MODEL_URL ?? 'http://127.0.0.1:8001';
  const shadowModelUrl = process.env.SHADOW_MODEL_URL ?? 'http://127.0.0.1:8002';
  const secondaryModelUrl = process.env.SECONDARY_MODEL_URL || undefined;
  const logFile = process.env.SHADOW_LOG_FILE ?? 'demo-app/logs/shadow.log';
  const host = process.env.HOST ?? '127.0.0.1';
  const port = Number(process.env.PORT ?? 3000);

  const { app, shadow } = createGateway({ prodModelUrl, shadowModelUrl, secondaryModelUrl, logFile });
  const server = app.listen(port, host);
  await new Promise<void>((resolve, reject) => server.once('listening', resolve).once('error', reject));
  const { port: boundPort } = server.address() as AddressInfo;
  announce('listening', { service: 'gateway', url: `http://${host}:${boundPort}`, prodModelUrl, shadowModelUrl, secondaryModelUrl, logFile, pid: process.pid });

  onStop(async () => {
    const started = performance.now();
    // 1. Stop accepting; requests in progress finish, and each is handed to the shadow as it does.
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    const cutOff = setTimeout(() => server.closeAllConnections(), 5000);
    await closed;
    clearTimeout(cutOff);
    // 2. Drain the shadow: wait for mirrored calls still in flight (up to 10 s), write the last summary, flush the log.
    const before = shadow.stats();
    await shadow.close({ timeoutMs: 10_000 });
    announce('drained', {
      service: 'gateway',
      inFlightAtClose: before.inFlight + before.queued,
      drainMs: Math.round(performance.now() - started),
      stats: shadow.stats(),
    });
  });
}

if (isMain(import.meta.url)) {
  main().catch((error: unknown) => {
    console.error(`gateway: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  });
}

/** The `text` of a `{"text": "..."}` body, or `undefined` after answering 400. */
function textOf(req: express.Request, res: express.Response): string | undefined {
  const text: unknown = (req.body as { text?: unknown } | undefined)?.text;
  if (typeof text === 'string' && text.trim() !== '') return text;
  res.status(400).json({ error: 'send {"text": "..."} as JSON' });
  return undefined;
}

/** The id that ties this request's production and shadow records: hand it back to the client. */
function exposeRequestId(req: express.Request, res: express.Response): string {
  const requestId = shadowRequestId(req);
  res.setHeader('x-request-id', requestId);
  return requestId;
}
