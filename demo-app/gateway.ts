/**
 * The gateway: the app a user of express-shadow already has. It serves `POST /predict` by asking the production
 * model, and express-shadow mirrors each of those requests to the candidate model after production has answered.
 *
 *   PROD_MODEL_URL=http://127.0.0.1:8001 SHADOW_MODEL_URL=http://127.0.0.1:8002 tsx demo-app/gateway.ts
 *
 * Environment:
 *   PROD_MODEL_URL     base URL of the production model; default http://127.0.0.1:8001
 *   SHADOW_MODEL_URL   base URL of the shadow model; default http://127.0.0.1:8002
 *   SHADOW_LOG_FILE    where express-shadow writes its JSON lines; default demo-app/logs/shadow.log
 *   PORT, HOST         where the gateway listens; default 3000 on 127.0.0.1 (PORT=0 picks a free port)
 *
 * Both model URLs are base URLs: the production call goes to `$PROD_MODEL_URL/predict`, and express-shadow appends
 * the request's own path, so the mirror goes to `$SHADOW_MODEL_URL/predict`.
 *
 * On SIGTERM or SIGINT it stops accepting requests, lets the ones in progress finish, then drains the shadow
 * (`await shadow.close()`), which waits for mirrored calls still in flight and flushes the log.
 */
import express from 'express';
import type { AddressInfo } from 'node:net';
import { shadowMiddleware, type ShadowMiddleware } from 'express-shadow';
import { announce, isMain, onStop } from './support/lifecycle.js';

export interface GatewayOptions {
  /** Base URL of the production model (v1). */
  prodModelUrl: string;
  /** Base URL of the shadow model (v2). */
  shadowModelUrl: string;
  /** The express-shadow log file. */
  logFile: string;
}

export interface Gateway {
  app: express.Express;
  shadow: ShadowMiddleware;
}

/** How long the gateway waits for the production model before answering 502. */
const PRODUCTION_TIMEOUT_MS = 2000;

export function createGateway({ prodModelUrl, shadowModelUrl, logFile }: GatewayOptions): Gateway {
  const predictUrl = `${prodModelUrl.replace(/\/+$/, '')}/predict`;

  const shadow = shadowMiddleware({
    target: shadowModelUrl,
    // The name the shadow's records carry, and the report shows.
    name: 'sentiment-v2',
    logFile,
    // A shadow slower than this is logged as a timeout; production never waits for it either way.
    timeoutMs: 2000,
    // "Match" means the same label. The other fields always differ between two models and say nothing about
    // agreement: `model` and `version` name the model that answered, and `score` is each model's own scale.
    // Scores still go to the log, and the report's confusion matrix is built from `$.label`.
    compare: { ignorePaths: ['$.model', '$.version', '$.score'] },
    // One summary record (requests seen / left out) every 10 s instead of every minute, so a short run shows some.
    summaryIntervalMs: 10_000,
  });

  const app = express();
  app.disable('x-powered-by');

  // Not mirrored: the shadow is mounted on /predict only.
  app.get('/health', (_req, res) => {
    res.json({ ok: true });
  });

  // The shadow goes before the body parser, so it mirrors the exact bytes the client sent ("bodySource": "raw").
  app.post('/predict', shadow, express.json({ limit: '64kb' }), async (req, res) => {
    const text: unknown = (req.body as { text?: unknown } | undefined)?.text;
    if (typeof text !== 'string' || text.trim() === '') {
      res.status(400).json({ error: 'send {"text": "..."} as JSON' });
      return;
    }
    // express-shadow puts the id that ties this request's production and shadow records in res.locals.
    const requestId = res.locals.shadowRequestId as string | undefined;
    if (requestId) res.setHeader('x-request-id', requestId);
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

  return { app, shadow };
}

async function main(): Promise<void> {
  const prodModelUrl = process.env.PROD_MODEL_URL ?? 'http://127.0.0.1:8001';
  const shadowModelUrl = process.env.SHADOW_MODEL_URL ?? 'http://127.0.0.1:8002';
  const logFile = process.env.SHADOW_LOG_FILE ?? 'demo-app/logs/shadow.log';
  const host = process.env.HOST ?? '127.0.0.1';
  const port = Number(process.env.PORT ?? 3000);

  const { app, shadow } = createGateway({ prodModelUrl, shadowModelUrl, logFile });
  const server = app.listen(port, host);
  await new Promise<void>((resolve, reject) => server.once('listening', resolve).once('error', reject));
  const { port: boundPort } = server.address() as AddressInfo;
  announce('listening', { service: 'gateway', url: `http://${host}:${boundPort}`, prodModelUrl, shadowModelUrl, logFile, pid: process.pid });

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
