/**
 * Sending shadow requests: at most `maxConcurrent` in flight, a bounded FIFO queue behind them, one got client with
 * its own keep-alive agents (shadow calls never compete with the app's outbound pool), no retries, no redirects,
 * a hard timeout, a cap on the bytes read back, and cancellation on drain.
 */
import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import { got, type Got, type Response } from 'got';
import type { HeaderMap, ShadowErrorCode, ShadowRequest, ShadowResponse, ShadowTargetFunction } from '../types.js';

export interface ShadowCall {
  method: string;
  url: URL;
  /** The request-target to put on the request line instead of the URL's normalised path and query. */
  rawPath?: string | undefined;
  headers: HeaderMap;
  body: Buffer | undefined;
}

export type ShadowOutcome =
  | {
      ok: true;
      status: number;
      headers: http.IncomingHttpHeaders;
      body: Buffer;
      /** Bytes of the (decompressed) answer read; more may have been sent when `truncated`. */
      bytesRead: number;
      truncated: boolean;
      durationMs: number;
      /** Milliseconds to the first body byte (to the headers when there was no body). */
      ttfbMs: number;
      /** Body chunks received. */
      chunks: number;
    }
  | {
      ok: false;
      code: ShadowErrorCode;
      message: string;
      durationMs: number;
      /** The request's own shape made it fail before anything reached the target: never held against the target. */
      requestFault?: true;
    };

export interface ShadowClientOptions {
  timeoutMs: number;
  maxConcurrent: number;
  maxResponseBytes: number;
  /** Host name resolution for shadow hosts (kept off libuv's threadpool, which the app's own lookups use). */
  lookup?: LookupFunction;
}

/** One got instance and one pair of agents per middleware, made at construction. */
export function createShadowClient(options: ShadowClientOptions): { send: (call: ShadowCall, signal: AbortSignal) => Promise<ShadowOutcome>; destroy: () => void } {
  const agentOptions = {
    keepAlive: true,
    maxSockets: options.maxConcurrent,
    maxFreeSockets: options.maxConcurrent,
    scheduling: 'lifo' as const,
  };
  const agent = { http: new http.Agent(agentOptions), https: new https.Agent(agentOptions) };
  const client: Got = got.extend({
    retry: { limit: 0 },
    throwHttpErrors: false,
    followRedirect: false,
    decompress: true,
    timeout: { request: options.timeoutMs },
    agent,
    headers: { 'user-agent': undefined },
    ...(options.lookup ? { dnsLookup: options.lookup } : {}),
  });
  return {
    send: (call, signal) => sendOne(client, call, signal, options.maxResponseBytes),
    destroy() {
      agent.http.destroy();
      agent.https.destroy();
    },
  };
}

function sendOne(client: Got, call: ShadowCall, signal: AbortSignal, maxResponseBytes: number): Promise<ShadowOutcome> {
  const started = performance.now();
  return new Promise<ShadowOutcome>((resolve) => {
    let response: Response | undefined;
    const chunks: Buffer[] = [];
    let chunkCount = 0;
    let firstByteAt: number | undefined;
    let bytesRead = 0;
    let truncated = false;
    let settled = false;
    // got's abort listener stays on the signal it is given until its stream is destroyed, which a completed stream
    // never is (autoDestroy off): on the middleware's long-lived signal that would keep every call alive. got gets
    // a signal of its own per call instead, linked to ours only until the call settles.
    const callAbort = new AbortController();
    const onCancel = (): void => callAbort.abort(signal.reason);
    signal.addEventListener('abort', onCancel, { once: true });
    const settle = (outcome: ShadowOutcome): void => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onCancel);
      resolve(outcome);
    };
    const finishWithBody = (): void => {
      if (!response) return;
      settle({
        ok: true,
        status: response.statusCode,
        headers: response.headers,
        body: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, bytesRead),
        bytesRead,
        truncated,
        durationMs: performance.now() - started,
        ttfbMs: (firstByteAt ?? performance.now()) - started,
        chunks: chunkCount,
      });
    };
    const stream = client.stream(call.url, {
      method: call.method as never,
      headers: call.headers,
      body: call.body,
      // got refuses a GET body unless told; a GET without one must not be sent with an empty body either.
      allowGetBody: call.body !== undefined,
      signal: callAbort.signal,
      ...(call.rawPath !== undefined ? { request: requestWithPath(call.rawPath) } : {}),
    });
    // Without a body, got's stream waits for one to be written (except for GET and HEAD): end it.
    if (call.body === undefined && call.method !== 'GET' && call.method !== 'HEAD') stream.end();
    stream.on('response', (res: Response) => {
      response = res;
      // Announced as larger than the cap: reading its first megabyte would cost far more than it could tell.
      if (Number(res.headers['content-length']) > maxResponseBytes) {
        truncated = true;
        finishWithBody();
        stream.destroy();
      }
    });
    stream.on('data', (chunk: Buffer) => {
      firstByteAt ??= performance.now();
      chunkCount++;
      const room = maxResponseBytes - bytesRead;
      if (chunk.length > room) {
        // Stop reading: the rest of an oversized answer is never buffered.
        if (room > 0) chunks.push(chunk.subarray(0, room));
        bytesRead += Math.max(0, room);
        truncated = true;
        finishWithBody();
        stream.destroy();
        return;
      }
      chunks.push(chunk);
      bytesRead += chunk.length;
    });
    stream.on('end', finishWithBody);
    stream.on('error', (error: Error & { code?: string }) => {
      settle({ ok: false, ...describeError(error, signal), durationMs: performance.now() - started });
    });
  });
}

/** Node's request function with the request-target replaced: what production received, byte for byte. */
function requestWithPath(path: string) {
  return (url: URL, options: http.RequestOptions) => (url.protocol === 'https:' ? https : http).request(url, { ...options, path });
}

/**
 * Calls a function target with the same guarantees as a URL target: the timeout and `close()` abort it through
 * the signal it is given, and we stop waiting then even if it ignores the signal; its body, bytes or a stream,
 * is read up to the cap.
 */
export async function callFunctionTarget(
  call: ShadowTargetFunction,
  request: ShadowRequest,
  cancel: AbortSignal,
  timeoutMs: number,
  maxResponseBytes: number,
): Promise<ShadowOutcome> {
  const started = performance.now();
  const signal = AbortSignal.any([cancel, AbortSignal.timeout(timeoutMs)]);
  const failure = (error: unknown): ShadowOutcome => {
    if (cancel.aborted) return { ok: false, code: 'cancelled', message: 'cancelled by close() before the shadow answered', durationMs: performance.now() - started };
    if (signal.aborted) return { ok: false, code: 'timeout', message: `the target function did not answer within ${timeoutMs} ms`, durationMs: performance.now() - started };
    const message = error instanceof Error ? error.message : String(error);
    const code = (error as { code?: unknown })?.code;
    return { ok: false, code: typeof code === 'string' && code ? code : 'target_error', message, durationMs: performance.now() - started };
  };
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
  });
  aborted.catch(() => {});
  try {
    const response = await Promise.race([Promise.resolve().then(() => call(request, { signal })), aborted]);
    if (!response || typeof response.status !== 'number') throw Object.assign(new Error('the target function must resolve to { status, headers?, body? }'), { code: 'bad_response' });
    const body = await Promise.race([readBody(response.body, maxResponseBytes, started), aborted]);
    return {
      ok: true,
      status: response.status,
      headers: lowerCaseHeaders(response.headers ?? {}),
      ...body,
      durationMs: performance.now() - started,
    };
  } catch (error) {
    return failure(error);
  } finally {
    if (onAbort) signal.removeEventListener('abort', onAbort);
  }
}

async function readBody(body: ShadowResponse['body'], maxBytes: number, started: number) {
  if (body === undefined) return { body: Buffer.alloc(0), bytesRead: 0, truncated: false, ttfbMs: performance.now() - started, chunks: 0 };
  if (typeof body === 'string' || body instanceof Uint8Array) {
    const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
    const truncated = bytes.length > maxBytes;
    const kept = truncated ? bytes.subarray(0, maxBytes) : bytes;
    return { body: kept, bytesRead: kept.length, truncated, ttfbMs: performance.now() - started, chunks: 1 };
  }
  const chunks: Buffer[] = [];
  let bytesRead = 0;
  let chunkCount = 0;
  let firstByteAt: number | undefined;
  let truncated = false;
  for await (const piece of body) {
    firstByteAt ??= performance.now();
    chunkCount++;
    const chunk = typeof piece === 'string' ? Buffer.from(piece, 'utf8') : Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength);
    const room = maxBytes - bytesRead;
    if (chunk.length > room) {
      // Leaving the loop calls the iterator's return(): the producer is told to stop.
      if (room > 0) chunks.push(chunk.subarray(0, room));
      bytesRead += Math.max(0, room);
      truncated = true;
      break;
    }
    chunks.push(chunk);
    bytesRead += chunk.length;
  }
  return { body: Buffer.concat(chunks, bytesRead), bytesRead, truncated, ttfbMs: (firstByteAt ?? performance.now()) - started, chunks: chunkCount };
}

function lowerCaseHeaders(headers: HeaderMap): http.IncomingHttpHeaders {
  const lower: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) lower[name.toLowerCase()] = value;
  return lower as http.IncomingHttpHeaders;
}

/** A short, stable code for what went wrong. */
/** Errors Node or got raise about the request itself (a header value, a body on a GET), before any byte is sent. */
const REQUEST_SHAPE_CODES = new Set(['ERR_INVALID_CHAR', 'ERR_HTTP_INVALID_HEADER_VALUE', 'ERR_INVALID_HTTP_TOKEN', 'ERR_UNESCAPED_CHARACTERS', 'ERR_INVALID_ARG_TYPE', 'ERR_INVALID_ARG_VALUE']);

function isRequestFault(error: Error & { timings?: { socket?: number } }, code: string): boolean {
  if (REQUEST_SHAPE_CODES.has(code)) return true;
  // got's own refusals (a body with GET/HEAD, say) happen before a socket is even asked for.
  return code === 'request_error' && error.timings?.socket === undefined;
}

export function describeError(
  error: Error & { code?: string; name?: string },
  signal: AbortSignal,
): { code: ShadowErrorCode; message: string; requestFault?: true } {
  if (signal.aborted) return { code: 'cancelled', message: 'cancelled by close() before the shadow answered' };
  if (error.name === 'TimeoutError' || error.code === 'ETIMEDOUT') return { code: 'timeout', message: error.message };
  const code = error.code && error.code !== 'ERR_GOT_REQUEST_ERROR' ? error.code : 'request_error';
  if (isRequestFault(error, code)) return { code, message: error.message, requestFault: true };
  return { code, message: error.message };
}

/** A FIFO of bounded length with O(1) push and shift. */
export class BoundedQueue<T> {
  #items: (T | undefined)[];
  #head = 0;
  #length = 0;

  constructor(readonly capacity: number) {
    this.#items = new Array<T | undefined>(Math.max(1, capacity));
  }

  get length(): number {
    return this.#length;
  }

  push(item: T): boolean {
    if (this.#length >= this.capacity) return false;
    this.#items[(this.#head + this.#length) % this.#items.length] = item;
    this.#length++;
    return true;
  }

  shift(): T | undefined {
    if (this.#length === 0) return undefined;
    const item = this.#items[this.#head];
    this.#items[this.#head] = undefined;
    this.#head = (this.#head + 1) % this.#items.length;
    this.#length--;
    return item;
  }
}
