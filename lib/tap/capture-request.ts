/**
 * Capture of the request body, byte for byte, without touching the stream the app reads.
 *
 * Node's HTTP parser hands every body chunk to `req.push()` whether or not anyone reads. Observing that call sees
 * the exact bytes (still content-encoded) and leaves flowing mode, backpressure and late `data` listeners alone:
 * the app's parsers get the same stream they would have had without us. Chunks the parser pushed before this
 * middleware ran (an async middleware ahead of it) are picked up from the readable buffer without consuming them.
 */
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { BudgetHold } from '../byte-budget.js';

export type RequestCaptureOutcome =
  /** The complete body, exactly as received, copied once into a buffer of its own (so it can be transferred). */
  | { kind: 'complete'; body: Uint8Array }
  /** The stream ended before the declared body was all there (production answered without reading it, say). */
  | { kind: 'incomplete'; bytes: number; detail: string }
  /** Larger than `maxBodyBytes`; buffering stopped at the limit. */
  | { kind: 'too_large'; bytes: number }
  /** The shared byte budget ran out while capturing. */
  | { kind: 'over_budget'; bytes: number }
  /** The client went away before the body was complete. */
  | { kind: 'aborted'; bytes: number }
  /** The stream was read before this middleware ran; the raw bytes are gone. */
  | { kind: 'consumed' };

/** Node marks a request whose unread body it discards once the response has finished. */
type DumpableRequest = IncomingMessage & { _dumped?: boolean };

interface ReadableInternals {
  _readableState?: { length?: number; buffer?: unknown; bufferIndex?: number; decoder?: unknown };
}

export class RequestCapture {
  /** The body so far, copied as each chunk arrives (before the app sees it), in a buffer of our own. */
  #body: Uint8Array | undefined;
  #bytes = 0;
  #state: 'capturing' | 'too_large' | 'over_budget' | 'done' = 'capturing';
  #settle: ((outcome: RequestCaptureOutcome) => void) | undefined;
  #settled = false;
  #outcome: RequestCaptureOutcome | undefined;
  /** The connection watched by `watchClose()`, let go of once settled (a keep-alive socket serves later requests). */
  #socket: Socket | undefined;

  /**
   * `declared` is the request's content-length header, passed in: behind Express 5 each read of `req.headers` (a
   * getter) misses V8's inline caches (request-id.ts says why), and it was read for every chunk.
   */
  constructor(
    private readonly req: IncomingMessage,
    private readonly maxBodyBytes: number,
    private readonly hold: BudgetHold,
    private readonly declared: string | undefined,
  ) {
    if (req.readableDidRead) {
      this.#finish({ kind: 'consumed' });
      return;
    }
    const buffered = bufferedChunks(req);
    if (buffered === undefined) {
      this.#finish({ kind: 'consumed' });
      return;
    }
    for (const chunk of buffered) this.#observe(chunk);
    if (req.complete) {
      this.#end();
      return;
    }
    this.#hookPush();
  }

  /**
   * Production answered while the body was still arriving: from now on the connection closing before the body's end
   * settles the capture as aborted. Watched only then, not on every request: before production answers, a client
   * that goes away closes the response too, and the hand-off gives the request up for that. The socket is watched,
   * not only the request: once its response has finished, Node (20 to 24) no longer ties a keep-alive request to its
   * connection, and a client that goes away mid-body leaves the request open for good, never closed, ended or failed.
   */
  watchClose(): void {
    if (this.#settled) return;
    const socket = this.req.socket;
    if (this.req.destroyed || !socket || socket.destroyed) return this.#onClose();
    this.#socket = socket;
    socket.once('close', this.#onClose);
    this.req.once('close', this.#onClose);
  }

  /**
   * Production has answered. If it did so without reading the body, Node has "dumped" the request: the parser
   * stops pushing body bytes, then pushes the end as if the body were whole. A dump before the message was complete
   * settles the capture at once as incomplete, without waiting for a slow client to finish sending what nobody will
   * see. The one exception: every byte content-length announced was already pushed (the parser reports the end a
   * moment later). A chunked body has no length to check, so it is skipped even if only its last chunk was still to
   * come: skipping is the safe side. Checked once here rather than by wrapping `_dump` on every request.
   */
  productionAnswered(): void {
    if (!this.#settled && (this.req as DumpableRequest)._dumped === true && !this.req.complete) this.#dumpedBeforeComplete();
  }

  #dumpedBeforeComplete(): void {
    if (this.#settled) return;
    const declared = this.declared;
    if (declared !== undefined && /^\d+$/.test(declared) && Number(declared) === this.#bytes) return;
    if (this.#state !== 'capturing') return this.#end();
    this.#finish({ kind: 'incomplete', bytes: this.#bytes, detail: `production answered after ${this.#bytes} bytes without reading the body; Node discarded the rest` });
  }

  #hookPush(): void {
    const req = this.req;
    const originalPush = req.push;
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const capture = this;
    const observingPush = function (this: IncomingMessage, chunk: unknown, encoding?: BufferEncoding): boolean {
      if (chunk === null) capture.#end();
      else if (Buffer.isBuffer(chunk) && !capture.#settled) capture.#observe(chunk);
      // Left in place once done, passing chunks straight through: deleting it would turn the request into a
      // dictionary-mode object (it is rarely the last property added), slowing every later access by the app.
      return originalPush.call(this, chunk, encoding);
    };
    req.push = observingPush;
  }

  #observe(chunk: Buffer): void {
    this.#bytes += chunk.length;
    if (this.#state !== 'capturing') return;
    if (this.#bytes > this.maxBodyBytes) {
      this.#dropChunks('too_large');
      return;
    }
    if (!this.hold.take(chunk.length)) {
      this.#dropChunks('over_budget');
      return;
    }
    // Copied now, before the parser hands the chunk to the app: an app may decode it in place or wipe it once read.
    // This is the one copy of each byte the capture makes (sized by content-length, so usually no regrowth).
    const start = this.#bytes - chunk.length;
    this.#body = room(this.#body, this.#bytes, this.declared, this.maxBodyBytes);
    this.#body.set(chunk, start);
  }

  #dropChunks(state: 'too_large' | 'over_budget'): void {
    this.#state = state;
    this.#body = undefined;
    this.hold.release();
  }

  #end(): void {
    if (this.#settled) return;
    const bytes = this.#bytes;
    if (this.#state === 'too_large') this.#finish({ kind: 'too_large', bytes });
    else if (this.#state === 'over_budget') this.#finish({ kind: 'over_budget', bytes });
    else {
      const missing = missingBytes(this.req, this.declared, bytes);
      if (missing) this.#finish({ kind: 'incomplete', bytes, detail: missing });
      else this.#finish({ kind: 'complete', body: exactly(this.#body, bytes) });
    }
  }

  #onClose = (): void => {
    if (this.#settled) return;
    // `close` before the parser's end of body: the client aborted or the connection broke.
    if (this.req.complete) this.#end();
    else this.#finish({ kind: 'aborted', bytes: this.#bytes });
  };

  /** The outcome once settled (usually by the time production answered), without waiting. */
  get settledOutcome(): RequestCaptureOutcome | undefined {
    return this.#outcome;
  }

  /** Resolves once the body is complete or can no longer be (a body still arriving after production answered). */
  get outcome(): Promise<RequestCaptureOutcome> {
    if (this.#outcome) return Promise.resolve(this.#outcome);
    return new Promise((resolve) => (this.#settle = resolve));
  }

  #finish(outcome: RequestCaptureOutcome): void {
    this.#settled = true;
    this.#outcome = outcome;
    if (this.#socket) {
      this.#socket.off('close', this.#onClose);
      this.#socket = undefined;
    }
    this.#state = 'done';
    this.#body = undefined;
    // Only a complete body stays held (until its shadow call ends); anything else is freed now.
    if (outcome.kind !== 'complete') this.hold.release();
    this.#settle?.(outcome);
  }

  /** Stops capturing and frees what was held (the request is not going to be mirrored after all). */
  abandon(): void {
    if (!this.#settled) this.#finish({ kind: 'aborted', bytes: this.#bytes });
    this.hold.release();
  }
}

/**
 * Chunks already in the request's readable buffer, read without consuming them. `undefined` when the buffer holds
 * something other than raw bytes (someone called `setEncoding`) or has a shape this Node version does not use.
 */
function bufferedChunks(req: IncomingMessage): Buffer[] | undefined {
  const state = (req as unknown as ReadableInternals)._readableState;
  // `state.length` is what `req.readableLength` returns, without one more read of the request (see the constructor).
  if (state?.length === 0) return [];
  if (!state || state.decoder) return undefined;
  const chunks: unknown[] = [];
  const buffer = state.buffer as { head?: { data: unknown; next: unknown } | null } | unknown[] | undefined;
  if (Array.isArray(buffer)) {
    // Node 22+: an array with a moving start index.
    chunks.push(...buffer.slice(state.bufferIndex ?? 0));
  } else if (buffer && typeof buffer === 'object' && 'head' in buffer) {
    // Node 20: a linked list.
    for (let node = buffer.head; node; node = node.next as typeof node) chunks.push(node.data);
  } else {
    return undefined;
  }
  return chunks.every((chunk) => Buffer.isBuffer(chunk)) ? (chunks as Buffer[]) : undefined;
}

/**
 * Why a body that ended is not the whole body production was sent: fewer bytes than `content-length` announced,
 * or a stream Node ended without the parser completing the message (a handler answered before reading it).
 */
function missingBytes(req: IncomingMessage, declared: string | undefined, seen: number): string | undefined {
  if (declared !== undefined && /^\d+$/.test(declared) && Number(declared) !== seen) {
    return `${seen} of the ${declared} bytes content-length announced were received before production answered`;
  }
  if (!req.complete) return `the body ended after ${seen} bytes without the message being complete`;
  return undefined;
}

/** A buffer that holds `bytes`: the declared length up front when it is known and allowed, doubling otherwise. */
function room(body: Uint8Array | undefined, bytes: number, declared: string | undefined, max: number): Uint8Array {
  if (body && body.length >= bytes) return body;
  const announced = declared !== undefined && /^\d+$/.test(declared) ? Number(declared) : -1;
  const size = announced >= bytes && announced <= max ? announced : Math.min(max, Math.max(bytes, (body?.length ?? 8192) * 2));
  const grown = new Uint8Array(size);
  if (body) grown.set(body);
  return grown;
}

/** The body as a buffer of exactly its length (its own ArrayBuffer, so it can be transferred). */
function exactly(body: Uint8Array | undefined, bytes: number): Uint8Array {
  if (!body) return new Uint8Array(0);
  return body.length === bytes ? body : body.slice(0, bytes);
}
