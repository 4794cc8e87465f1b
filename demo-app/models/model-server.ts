/**
 * One sentiment model behind HTTP:
 * - `POST /predict {"text": "..."}` → `{"label", "score", "model", "version"}`;
 * - `POST /generate {"text": "..."}` → `text/event-stream`: a short explanation ("negative: terrible (-3), love (-3)")
 *   streamed token by token as OpenAI-style chunks, `data: {"choices":[{"delta":{"content":" terrible"}}]}`, one
 *   event per token, then `data: [DONE]`.
 *
 *   tsx demo-app/models/model-server.ts --model v1 --port 8001
 *   tsx demo-app/models/model-server.ts --model v2 --port 8002 --latency-ms 20 --failure-rate 0.02
 *
 * Options (each also read from the environment variable in brackets):
 *   --model v1|v2          which model to serve [MODEL]; required
 *   --port N               port on 127.0.0.1, 0 for a free one [PORT]; default 0
 *   --latency-ms N         mean extra latency per prediction, spread ±50% [LATENCY_MS]; default 0. For /generate,
 *                          the wait before the first token
 *   --token-ms N           mean time between two streamed tokens, spread ±50% [TOKEN_MS]; default 3
 *   --seed N               picks the wording of each /generate sentence (with the text) [SEED]; default 1. Two
 *                          servers of one model with different seeds word their sentences differently, as two
 *                          replicas of a language model sampling at a temperature above 0 would
 *   --failure-rate F       fraction of predictions that fail, 0..1 [FAILURE_RATE]; default 0. Half of the failures
 *                          answer 500, half drop the connection (as a crashed worker would; /generate drops it
 *                          halfway through the stream)
 *
 * Prints `{"event":"listening","url":...}` on stdout once it accepts requests; stops on SIGTERM or SIGINT.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { announce, isMain, onStop } from '../support/lifecycle.js';
import { explain, isModelVersion, MODELS, tokens, wordingDraw, type Model } from './models.js';

export interface ModelServerOptions {
  model: Model;
  latencyMs: number;
  failureRate: number;
  /** Mean time between two tokens of a /generate stream. Default 3 ms. */
  tokenMs?: number;
  /** Picks each /generate sentence's wording, with the text. Default 1. */
  seed?: number;
}

const MAX_BODY_BYTES = 64 * 1024;

export function createModelServer({ model, latencyMs, failureRate, tokenMs = 3, seed = 1 }: ModelServerOptions): http.Server {
  return http.createServer((req, res) => {
    const url = req.url ?? '/';
    if (req.method === 'GET' && url === '/health') return sendJson(res, 200, { ok: true, model: model.description, version: model.version });
    if (url !== '/predict' && url !== '/generate') return sendJson(res, 404, { error: `no route ${req.method} ${url}; try POST /predict or POST /generate` });
    if (req.method !== 'POST') return sendJson(res, 405, { error: `use POST ${url} with {"text": "..."}` });

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
      setTimeout(() => {
        if (res.destroyed) return;
        // Decided up front, so a failing stream can fail halfway through.
        const failure = Math.random() < failureRate ? (Math.random() < 0.5 ? 'status_500' : 'drop') : undefined;
        if (failure === 'status_500') return sendJson(res, 500, { error: 'inference failed', version: model.version });
        if (url === '/generate') return streamExplanation(req, res, explain(model, input, wordingDraw(seed, input)), model, tokenMs, failure === 'drop');
        // A worker that dies mid-request: the caller sees the connection reset, not an answer.
        if (failure === 'drop') return void req.socket.destroy();
        sendJson(res, 200, model.predict(input));
      }, jitter(latencyMs));
    });
  });
}

/** Mean `ms`, spread ±50%. */
function jitter(ms: number): number {
  return ms > 0 ? ms * (0.5 + Math.random()) : 0;
}

/**
 * `POST /generate`: the explanation as Server-Sent Events, one OpenAI-style delta chunk per token with `tokenMs`
 * between them, a last chunk with `finish_reason`, then `[DONE]`. `drop` resets the connection halfway through.
 */
function streamExplanation(req: http.IncomingMessage, res: http.ServerResponse, explanation: string, model: Model, tokenMs: number, drop: boolean): void {
  const parts = tokens(explanation);
  const chunk = (delta: { content?: string }, finishReason: string | null): string =>
    JSON.stringify({ model: model.name, choices: [{ index: 0, delta, finish_reason: finishReason }] });
  const events = [...parts.map((content) => chunk({ content }, null)), chunk({}, 'stop'), '[DONE]'];
  const dropAt = drop ? Math.max(1, Math.floor(parts.length / 2)) : -1;

  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
  let sent = 0;
  let timer: NodeJS.Timeout | undefined;
  res.on('close', () => clearTimeout(timer));
  const next = (): void => {
    if (res.destroyed) return;
    if (sent === dropAt) return void req.socket.destroy();
    res.write(`data: ${events[sent++]}\n\n`);
    if (sent === events.length) return void res.end();
    // The last chunks (finish_reason, [DONE]) follow the last token at once, as they do from a real model.
    timer = setTimeout(next, sent < parts.length ? jitter(tokenMs) : 0);
  };
  next();
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
      'token-ms': { type: 'string' },
      seed: { type: 'string' },
    },
  });
  const version = values.model ?? process.env.MODEL;
  if (!isModelVersion(version)) throw new Error(`--model must be v1 or v2, got ${JSON.stringify(version)}`);
  const model = MODELS[version];
  const latencyMs = numberOption('latency-ms', values['latency-ms'] ?? process.env.LATENCY_MS, 0, 0, 60_000);
  const failureRate = numberOption('failure-rate', values['failure-rate'] ?? process.env.FAILURE_RATE, 0, 0, 1);
  const tokenMs = numberOption('token-ms', values['token-ms'] ?? process.env.TOKEN_MS, 3, 0, 10_000);
  const port = numberOption('port', values.port ?? process.env.PORT, 0, 0, 65_535);
  const seed = numberOption('seed', values.seed ?? process.env.SEED, 1, 0, 2 ** 31);

  const server = createModelServer({ model, latencyMs, failureRate, tokenMs, seed });
  server.keepAliveTimeout = 30_000;
  server.listen(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => server.once('listening', resolve).once('error', reject));
  const { port: boundPort } = server.address() as AddressInfo;
  announce('listening', {
    service: `model-${version}`,
    url: `http://127.0.0.1:${boundPort}`,
    model: model.description,
    latencyMs,
    tokenMs,
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
