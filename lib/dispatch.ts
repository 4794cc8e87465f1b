/**
 * Sending shadow requests: at most `maxConcurrent` in flight, a bounded FIFO queue behind them, one got client with
 * its own keep-alive agents (shadow calls never compete with the app's outbound pool), no retries, no redirects,
 * a hard timeout, a cap on the bytes read back, and cancellation on drain.
 */
import http from 'node:http';
import https from 'node:https';
import { got, type Got, type Response } from 'got';
import type { HeaderMap, ShadowErrorCode } from './types.js';

export interface ShadowCall {
  method: string;
  url: URL;
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
    }
  | { ok: false; code: ShadowErrorCode; message: string; durationMs: number };

export interface ShadowClientOptions {
  timeoutMs: number;
  maxConcurrent: number;
  maxResponseBytes: number;
}

/** One got instance and one pair of agents per middleware, made at construction. */
export function createShadowClient(options: ShadowClientOptions): { send: (call: ShadowCall, signal: AbortSignal) => Promise<ShadowOutcome>; destroy: () => void } {
  const agentOptions = { keepAlive: true, maxSockets: options.maxConcurrent, maxFreeSockets: options.maxConcurrent, scheduling: 'lifo' as const };
  const agent = { http: new http.Agent(agentOptions), https: new https.Agent(agentOptions) };
  const client: Got = got.extend({
    retry: { limit: 0 },
    throwHttpErrors: false,
    followRedirect: false,
    decompress: true,
    timeout: { request: options.timeoutMs },
    agent,
    headers: { 'user-agent': undefined },
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
    let bytesRead = 0;
    let truncated = false;
    let settled = false;
    const settle = (outcome: ShadowOutcome): void => {
      if (settled) return;
      settled = true;
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
      });
    };
    const stream = client.stream(call.url, {
      method: call.method as never,
      headers: call.headers,
      body: call.body,
      // got refuses a GET body unless told; a GET without one must not be sent with an empty body either.
      allowGetBody: call.body !== undefined,
      signal,
    });
    // Without a body, got's stream waits for one to be written (except for GET and HEAD): end it.
    if (call.body === undefined && call.method !== 'GET' && call.method !== 'HEAD') stream.end();
    stream.on('response', (res: Response) => {
      response = res;
    });
    stream.on('data', (chunk: Buffer) => {
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

/** A short, stable code for what went wrong. */
export function describeError(error: Error & { code?: string; name?: string }, signal: AbortSignal): { code: ShadowErrorCode; message: string } {
  if (signal.aborted) return { code: 'cancelled', message: 'cancelled by close() before the shadow answered' };
  if (error.name === 'TimeoutError' || error.code === 'ETIMEDOUT') return { code: 'timeout', message: error.message };
  const code = error.code && error.code !== 'ERR_GOT_REQUEST_ERROR' ? error.code : 'request_error';
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
