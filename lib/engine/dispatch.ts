/**
 * Sending shadow requests through undici: one keep-alive `Pool` per target origin (shadow calls never share the
 * app's outbound sockets), `Pool.dispatch` with a handler object (no stream, no AbortSignal per call: measured in
 * bench/http-clients.ts at ~35 µs of CPU per call against got's ~250), no retries, no redirects, a hard timeout of
 * our own per call, a cap on the bytes read back, and cancellation of every call in flight on drain.
 */
import http from 'node:http';
import type { LookupFunction } from 'node:net';
import type { Dispatcher, Pool as UndiciPool } from 'undici';
// undici's Pool alone: its index also loads fetch, WebSocket, caches and mocks, which cost the worker's start 177 ms
// and 20 MB of RSS against 49 ms and 11.5 MB for the Pool (Node 20, this machine). package.json keeps undici to
// patch releases of the minor this path was checked against; the engine's tests load it.
// @ts-expect-error -- the file has no types of its own: it is the class the package's index exports as `Pool`.
import PoolFile from 'undici/lib/dispatcher/pool.js';

const Pool = PoolFile as typeof UndiciPool;
import type { HeaderMap, ShadowErrorCode, ShadowRequest, ShadowResponse, ShadowTargetFunction } from '../types.js';
import { decodeContent } from './logged-body.js';
import { engineLag } from './lag-monitor.js';
import { errorMessage } from '../errors.js';

interface ShadowCall {
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
      /** How late this thread's loop was when the answer was read (see lag-monitor.ts). */
      engineDelayMs?: number;
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
  /** Host name resolution for shadow hosts (resolve-host.ts: as the app resolves, one lookup on the threadpool at a time). */
  lookup?: LookupFunction;
}

export interface ShadowClient {
  send(call: ShadowCall): Promise<ShadowOutcome>;
  /** Ends every call in flight as `cancelled` (close() timed out). */
  cancelAll(): void;
  destroy(): void;
}

/** One pool per origin, made on first use; the calls in flight, so a drain can cancel them without a signal each. */
export function createShadowClient(options: ShadowClientOptions): ShadowClient {
  return new PooledClient(options);
}

/** The client: its pools and the calls in flight. Each `Call` keeps a reference to it instead of copies of its limits. */
class PooledClient implements ShadowClient {
  readonly timeoutMs: number;
  readonly maxResponseBytes: number;
  /** Calls in flight, oldest first: they share `timeoutMs`, so the first is always the first due. */
  readonly inFlight = new Set<Call>();
  readonly #options: ShadowClientOptions;
  readonly #pools = new Map<string, UndiciPool>();
  /** One timer for every call's deadline, armed for the oldest's: a Timeout and a closure per call cost more. */
  #deadlines: NodeJS.Timeout | undefined;

  constructor(options: ShadowClientOptions) {
    this.#options = options;
    this.timeoutMs = options.timeoutMs;
    this.maxResponseBytes = options.maxResponseBytes;
  }

  send(call: ShadowCall): Promise<ShadowOutcome> {
    const pending = new Call(call, this);
    this.inFlight.add(pending);
    this.#deadlines ??= setTimeout(this.#expire, this.timeoutMs);
    try {
      this.#poolFor(call.url.origin).dispatch(dispatchOptionsOf(call), pending);
    } catch (error) {
      pending.onResponseError(undefined, error as Error);
    }
    return pending.outcome;
  }

  /** A call has settled; with none left in flight, the deadline timer goes too (it would hold the loop open). */
  released(call: Call): void {
    this.inFlight.delete(call);
    if (this.inFlight.size === 0 && this.#deadlines) {
      clearTimeout(this.#deadlines);
      this.#deadlines = undefined;
    }
  }

  /** Ends the calls past their deadline, oldest first, and arms the timer for the next one due. */
  readonly #expire = (): void => {
    this.#deadlines = undefined;
    const now = performance.now();
    for (const call of this.inFlight) {
      if (call.deadline > now) {
        this.#deadlines = setTimeout(this.#expire, Math.max(1, Math.ceil(call.deadline - now)));
        return;
      }
      call.stop('timeout');
    }
  };

  cancelAll(): void {
    for (const call of this.inFlight) call.stop('cancelled');
  }

  destroy(): void {
    this.cancelAll();
    for (const pool of this.#pools.values()) void pool.destroy().catch(() => {});
    this.#pools.clear();
  }

  #poolFor(origin: string): UndiciPool {
    let pool = this.#pools.get(origin);
    if (!pool) {
      const options = this.#options;
      pool = new Pool(origin, {
        connections: options.maxConcurrent,
        pipelining: 1,
        // The server's `Keep-Alive: timeout` hint is honoured (less a margin); 4 s when it gives none.
        keepAliveTimeout: 4_000,
        headersTimeout: options.timeoutMs,
        bodyTimeout: options.timeoutMs,
        maxResponseSize: -1,
        connect: { timeout: options.timeoutMs, ...(options.lookup ? { lookup: options.lookup } : {}) },
      });
      pool.on('connectionError', () => {});
      this.#pools.set(origin, pool);
    }
    return pool;
  }
}

function dispatchOptionsOf(call: ShadowCall): Dispatcher.DispatchOptions {
  return {
    origin: call.url.origin,
    path: call.rawPath ?? call.url.pathname + call.url.search,
    method: call.method,
    headers: call.headers as Record<string, string | string[]>,
    body: call.body ?? null,
  };
}

/** One shadow call: undici's handler, its deadline and its outcome. A method per event, no closures per call. */
class Call implements Dispatcher.DispatchHandler {
  readonly outcome: Promise<ShadowOutcome>;
  #resolve!: (outcome: ShadowOutcome) => void;
  readonly #client: PooledClient;
  /** When the engine dispatched the call: its deadline counts from here. */
  readonly #started = performance.now();
  /**
   * When undici began writing the request to its socket. `durationMs` counts from here: before it the call waited
   * for this thread's loop to let undici write (undici checks an idle keep-alive socket in the loop's check phase),
   * which is the engine's time, not the shadow's. At saturation on 2 cores that wait was 2.8 ms at p50.
   */
  #sentAt: number | undefined;
  /** When the call is ended as `timeout` if it has not settled (the client's one timer watches it). */
  readonly deadline: number;
  #controller: Dispatcher.DispatchController | undefined;
  /** Why reading stopped early; `truncated` also marks the answer as cut at the cap. */
  #ending: 'timeout' | 'cancelled' | 'truncated' | undefined;
  #status = 0;
  #headers: http.IncomingHttpHeaders = {};
  #chunks: Buffer[] = [];
  #chunkCount = 0;
  #bytesRead = 0;
  #firstByteAt: number | undefined;
  #settled = false;

  constructor(call: ShadowCall, client: PooledClient) {
    this.#client = client;
    this.outcome = new Promise((resolve) => (this.#resolve = resolve));
    // Our own deadline covers everything (connecting, a 101, an answer that never ends): the slot is freed then,
    // whatever the transport does.
    this.deadline = this.#started + client.timeoutMs;
  }

  /** Ends the call now (its deadline passed, or close() gave up waiting), aborting the request if it started. */
  stop(reason: 'timeout' | 'cancelled'): void {
    if (this.#settled) return;
    this.#ending = reason;
    const message = reason === 'timeout' ? `no complete answer within ${this.#client.timeoutMs} ms` : 'cancelled by close() before the shadow answered';
    this.#controller?.abort(new Error(message));
    this.#settle({ ok: false, code: reason, message, durationMs: this.#elapsed(performance.now()) });
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.#sentAt = performance.now();
    this.#controller = controller;
    // Timed out or cancelled while waiting for a connection: abort as soon as undici hands us the request.
    if (this.#settled) controller.abort(new Error('abandoned'));
  }

  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, headers: Record<string, string | string[]>): void {
    if (statusCode < 200) return;
    this.#status = statusCode;
    this.#headers = headers as http.IncomingHttpHeaders;
    // Announced as larger than the cap: reading its first megabyte would cost far more than it could tell.
    if (Number(headers['content-length']) > this.#client.maxResponseBytes) {
      this.#ending = 'truncated';
      controller.abort(new Error('response too large'));
      void this.#finish();
    }
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.#settled || this.#ending) return;
    this.#firstByteAt ??= performance.now();
    this.#chunkCount++;
    const room = this.#client.maxResponseBytes - this.#bytesRead;
    if (chunk.length > room) {
      // Stop reading: the rest of an oversized answer is never buffered.
      if (room > 0) this.#chunks.push(chunk.subarray(0, room));
      this.#bytesRead += Math.max(0, room);
      this.#ending = 'truncated';
      controller.abort(new Error('response too large'));
      void this.#finish();
      return;
    }
    this.#chunks.push(chunk);
    this.#bytesRead += chunk.length;
  }

  onResponseEnd(): void {
    void this.#finish();
  }

  onResponseError(_controller: unknown, error: Error & { code?: string }): void {
    if (this.#settled || this.#ending) return;
    this.#settle({ ok: false, ...describeError(error), durationMs: this.#elapsed(performance.now()) });
  }

  /** The answer as read: content-encoding undone (capped), as got's `decompress` did. */
  async #finish(): Promise<void> {
    if (this.#settled) return;
    const now = performance.now();
    const durationMs = this.#elapsed(now);
    // The loop may have been late since before the request was sent: only the part within durationMs is ours.
    const engineDelayMs = Math.min(engineLag.delayNow(now), durationMs);
    const ttfbMs = this.#elapsed(this.#firstByteAt ?? now);
    let body = this.#chunks.length === 1 ? this.#chunks[0]! : Buffer.concat(this.#chunks, this.#bytesRead);
    let bytesRead = this.#bytesRead;
    let truncated = this.#ending === 'truncated';
    const encoding = this.#headers['content-encoding'];
    if (typeof encoding === 'string' && body.length > 0 && !truncated) {
      const decoded = await decodeContent(body, encoding, this.#client.maxResponseBytes);
      if (decoded.decoded) {
        body = decoded.bytes;
        bytesRead = body.length;
      }
      truncated = decoded.cut;
    }
    this.#settle({ ok: true, status: this.#status, headers: this.#headers, body, bytesRead, truncated, durationMs, engineDelayMs, ttfbMs, chunks: this.#chunkCount });
  }

  /** Milliseconds from the request's sending (from its dispatch when it was never sent) to `at`. */
  #elapsed(at: number): number {
    return at - (this.#sentAt ?? this.#started);
  }

  #settle(outcome: ShadowOutcome): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#client.released(this);
    this.#chunks = [];
    this.#resolve(outcome);
  }
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
    const message = errorMessage(error);
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

/** Errors raised about the request itself (a header value, a body the method cannot carry), before any byte is sent. */
const REQUEST_SHAPE_CODES = new Set(['UND_ERR_INVALID_ARG', 'UND_ERR_NOT_SUPPORTED', 'ERR_INVALID_CHAR', 'ERR_HTTP_INVALID_HEADER_VALUE', 'ERR_INVALID_HTTP_TOKEN', 'ERR_UNESCAPED_CHARACTERS', 'ERR_INVALID_ARG_TYPE', 'ERR_INVALID_ARG_VALUE']);

/**
 * llhttp's reasons as Node's own HTTP client names them (`HPE_*`): undici 7 leaves `code` unset on its parser errors.
 * Looked up by the reason's text; anything else unparseable is `HPE_INVALID_RESPONSE`.
 */
const PARSER_CODES: [RegExp, string][] = [
  [/Expected HTTP\/|Invalid constant/i, 'HPE_INVALID_CONSTANT'],
  [/Invalid header (token|field char|value char)/i, 'HPE_INVALID_HEADER_TOKEN'],
  [/Invalid status/i, 'HPE_INVALID_STATUS'],
  [/version/i, 'HPE_INVALID_VERSION'],
  [/chunk size/i, 'HPE_INVALID_CHUNK_SIZE'],
  [/Content-Length can't be present|Duplicate Content-Length/i, 'HPE_UNEXPECTED_CONTENT_LENGTH'],
  [/Content-Length/i, 'HPE_INVALID_CONTENT_LENGTH'],
  [/Transfer-Encoding/i, 'HPE_INVALID_TRANSFER_ENCODING'],
  [/expected (CR|LF)/i, 'HPE_CR_EXPECTED'],
];

function parserCodeOf(message: string): string {
  for (const [pattern, code] of PARSER_CODES) if (pattern.test(message)) return code;
  return 'HPE_INVALID_RESPONSE';
}

/** undici's codes as the log has always named them: the socket's own errno where there is one. */
function errorCodeOf(error: Error & { code?: string; cause?: unknown }): string {
  if (error.name === 'HTTPParserError') return error.code ?? parserCodeOf(error.message);
  // A `101 Switching Protocols` to a request that asked for no upgrade: undici closes the connection at once.
  if (error.message === 'bad upgrade') return 'unexpected_upgrade';
  const code = error.code;
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT') return 'timeout';
  if (code === 'UND_ERR_SOCKET') {
    const cause = (error.cause as { code?: unknown } | undefined)?.code;
    return typeof cause === 'string' && cause ? cause : 'ECONNRESET';
  }
  return code || 'request_error';
}

/** A short, stable code for what went wrong. */
function describeError(error: Error & { code?: string; name?: string }): { code: ShadowErrorCode; message: string; requestFault?: true } {
  if (error.name === 'TimeoutError' || error.code === 'ETIMEDOUT') return { code: 'timeout', message: error.message };
  const code = errorCodeOf(error);
  if (REQUEST_SHAPE_CODES.has(code)) return { code, message: error.message, requestFault: true };
  return { code, message: error.message };
}

/**
 * A FIFO of bounded length with O(1) push and shift. Its storage grows with what it holds, not with its capacity:
 * a thousand middleware instances with `maxQueue: 100000` allocate nothing until requests wait.
 */
export class BoundedQueue<T> {
  #items: (T | undefined)[] = [];
  #head = 0;

  constructor(readonly capacity: number) {}

  get length(): number {
    return this.#items.length - this.#head;
  }

  push(item: T): boolean {
    if (this.length >= this.capacity) return false;
    this.#items.push(item);
    return true;
  }

  shift(): T | undefined {
    if (this.length === 0) return undefined;
    const item = this.#items[this.#head];
    this.#items[this.#head++] = undefined;
    if (this.#head === this.#items.length) {
      this.#items = [];
      this.#head = 0;
    }
    // Compact once the consumed head is most of the array, so memory follows what is queued.
    if (this.#head >= 1024 && this.#head * 2 >= this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return item;
  }
}
