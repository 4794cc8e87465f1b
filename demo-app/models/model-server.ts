/**
 * One sentiment model behind HTTP: `POST /predict {"text": "..."}` → `{"label", "score", "model", "version"}`.
 *
 *   tsx demo-app/models/model-server.ts --model v1 --port 8001
 *   tsx demo-app/models/model-server.ts --model v2 --port 8002 --latency-ms 20 --failure-rate 0.02
 *
 * Options (each also read from the environment variable in brackets):
 *   --model v1|v2          which model to serve [MODEL]; required
 *   --port N               port on 127.0.0.1, 0 for a free one [PORT]; default 0
 *   --latency-ms N         mean extra latency per prediction, spread ±50% [LATENCY_MS]; default 0
 *   --failure-rate F       fraction of predictions that fail, 0..1 [FAILURE_RATE]; default 0. Half of the failures
 *                          answer 500, half drop the connection (as a crashed worker would)
 *
 * Prints `{"event":"listening","url":...}` on stdout once it accepts requests; stops on SIGTERM or SIGINT.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { announce, isMain, onStop } from '../support/lifecycle.js';
import { isModelVersion, MODELS, type Model } from './models.js';

export interface ModelServerOptions {
  model: Model;
  latencyMs: number;
  failureRate: number;
}

const MAX_BODY_BYTES = 64 * 1024;

export function createModelServer({ model, latencyMs, failureRate }: ModelServerOptions): http.Server {
  return http.createServer((req, res) => {
    const url = req.url ?? '/';
    if (req.method === 'GET' && url === '/health') return sendJson(res, 200, { ok: true, model: model.description, version: model.version });
    if (url !== '/predict') return sendJson(res, 404, { error: `no route ${req.method} ${url}; try POST /predict` });
    if (req.method !== 'POST') return sendJson(res, 405, { error: 'use POST /predict with {"text": "..."}' });

    readBody(req, (body) => {
      if (body === undefined) return sendJson(res, 413, { error: `body larger than ${MAX_BODY_BYTES} bytes` });
      let text: unknown;
      try {
        text = (JSON.parse(body.toString('utf8')) as { text?: unknown }).text;
      } catch {
        return sendJson(res, 400, { error: 'body must be JSON: {"text": "..."}' });
      }
      if (typeof text !== 'string' || text.trim() === '') return sendJson(res, 400, { error: '"text" must be a non-empty string' });
      const input = text;

      // Simulated inference time: the analysers themselves take well under a millisecond.
      const delay = latencyMs > 0 ? latencyMs * (0.5 + Math.random()) : 0;
      setTimeout(() => {
        if (res.destroyed) return;
        if (Math.random() < failureRate) {
          if (Math.random() < 0.5) return sendJson(res, 500, { error: 'inference failed', version: model.version });
          // A worker that dies mid-request: the caller sees the connection reset, not an answer.
          req.socket.destroy();
          return;
        }
        sendJson(res, 200, model.predict(input));
      }, delay);
    });
  });
}

function readBody(req: http.IncomingMessage, done: (body: Buffer | undefined) => void): void {
  const chunks: Buffer[] = [];
  let size = 0;
  let tooLarge = false;
  req.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) tooLarge = true;
    else chunks.push(chunk);
  });
  req.on('end', () => done(tooLarge ? undefined : Buffer.concat(chunks)));
  req.on('error', () => {});
}

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  const bytes = Buffer.from(JSON.stringify(body));
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': bytes.length });
  res.end(bytes);
}

function numberOption(name: string, raw: string | undefined, fallback: number, min: number, max: number): number {
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < min || value > max) {
    throw new Error(`--${name} must be a number from ${min} to ${max}, got ${JSON.stringify(raw)}`);
  }
  return value;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      model: { type: 'string' },
      port: { type: 'string' },
      'latency-ms': { type: 'string' },
      'failure-rate': { type: 'string' },
    },
  });
  const version = values.model ?? process.env.MODEL;
  if (!isModelVersion(version)) throw new Error(`--model must be v1 or v2, got ${JSON.stringify(version)}`);
  const model = MODELS[version];
  const latencyMs = numberOption('latency-ms', values['latency-ms'] ?? process.env.LATENCY_MS, 0, 0, 60_000);
  const failureRate = numberOption('failure-rate', values['failure-rate'] ?? process.env.FAILURE_RATE, 0, 0, 1);
  const port = numberOption('port', values.port ?? process.env.PORT, 0, 0, 65_535);

  const server = createModelServer({ model, latencyMs, failureRate });
  server.keepAliveTimeout = 30_000;
  server.listen(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => server.once('listening', resolve).once('error', reject));
  const { port: boundPort } = server.address() as AddressInfo;
  announce('listening', {
    service: `model-${version}`,
    url: `http://127.0.0.1:${boundPort}`,
    model: model.description,
    latencyMs,
    failureRate,
    pid: process.pid,
  });

  onStop(async () => {
    // Finish the predictions in progress, then let go of idle keep-alive connections.
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    // A client that keeps a connection busy past this is cut off.
    const cutOff = setTimeout(() => server.closeAllConnections(), 3000);
    await closed;
    clearTimeout(cutOff);
    announce('stopped', { service: `model-${version}` });
  });
}

if (isMain(import.meta.url)) {
  main().catch((error: unknown) => {
    console.error(`model-server: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  });
}
