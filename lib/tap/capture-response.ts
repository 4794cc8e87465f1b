/**
 * Observation of the production response: the bytes handed to `res.write`/`res.end` (up to a cap), and the moment
 * the response finished. Every argument is passed through unchanged and observation can never throw, so what is
 * sent, and how it is framed, is exactly what the app wrote.
 */
import type { ServerResponse } from 'node:http';
import type { BudgetHold, ByteBudget } from '../byte-budget.js';

type WriteArgs = Parameters<ServerResponse['write']>;
type EndArgs = Parameters<ServerResponse['end']>;

/**
 * A response may keep this much for comparison whatever the budget; past it, it grows only while the budget is
 * less than half used, so long-lived streams (SSE) cannot starve every other request of the budget.
 */
const ALWAYS_KEPT_BYTES = 64 * 1024;

export interface CapturedResponse {
  /** Copies of the first `cap` bytes written, each in a buffer of its own. */
  chunks: Uint8Array[];
  /** All bytes written. */
  bytes: number;
  /** `true` when more was written than was kept. */
  truncated: boolean;
  /** Milliseconds from the capture's start to the first non-empty write, if any. */
  ttfbMs: number | undefined;
  /** Non-empty writes (chunks of a streamed answer). */
  writes: number;
}

export class ResponseCapture {
  #chunks: Uint8Array[] = [];
  #kept = 0;
  #bytes = 0;
  #truncated = false;
  #done = false;
  readonly #startedAt = performance.now();
  #firstWriteAt: number | undefined;
  #writes = 0;

  constructor(
    res: ServerResponse,
    private readonly cap: number,
    private readonly hold: BudgetHold,
    private readonly budget: ByteBudget,
  ) {
    const originalWrite = res.write;
    const originalEnd = res.end;
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const capture = this;
    res.write = function (this: ServerResponse, ...args: WriteArgs) {
      capture.#observe(args[0], args[1]);
      return Reflect.apply(originalWrite, this, args) as boolean;
    } as ServerResponse['write'];
    res.end = function (this: ServerResponse, ...args: EndArgs) {
      if (typeof args[0] !== 'function') capture.#observe(args[0], args[1]);
      return Reflect.apply(originalEnd, this, args) as ServerResponse;
    } as ServerResponse['end'];
  }

  #observe(chunk: unknown, encoding: unknown): void {
    if (this.#done || chunk === undefined || chunk === null || typeof chunk === 'function') return;
    try {
      this.#keep(chunk, encoding);
    } catch {
      // Whatever the app passed (an unknown encoding, say), Node's own write decides what happens, as without us.
      this.#truncated = true;
    }
  }

  #keep(chunk: unknown, encoding: unknown): void {
    let size: number;
    const enc = typeof encoding === 'string' ? encoding : 'utf8';
    if (typeof chunk === 'string') {
      if (!Buffer.isEncoding(enc)) {
        this.#truncated = true;
        return;
      }
      size = Buffer.byteLength(chunk, enc);
    } else if (chunk instanceof Uint8Array) {
      size = chunk.byteLength;
    } else {
      return;
    }
    if (size === 0) return;
    this.#firstWriteAt ??= performance.now();
    this.#writes++;
    this.#bytes += size;
    if (this.#truncated) return;
    const room = Math.min(this.cap - this.#kept, size);
    if (room <= 0 || !this.#mayGrow(room) || !this.hold.take(room)) {
      this.#truncated = true;
      return;
    }
    // Copied now: an app may reuse its buffer once the write's callback ran, long before we hand the bytes off.
    const copy = new Uint8Array(room);
    if (typeof chunk === 'string') Buffer.from(copy.buffer).write(chunk, 0, room, enc as BufferEncoding);
    else copy.set((chunk as Uint8Array).subarray(0, room));
    this.#chunks.push(copy);
    this.#kept += room;
    if (room < size) this.#truncated = true;
  }

  #mayGrow(bytes: number): boolean {
    if (this.#kept + bytes <= ALWAYS_KEPT_BYTES) return true;
    return this.budget.used + bytes <= this.budget.limit / 2;
  }

  /** Stops observing and returns what was seen. */
  finish(): CapturedResponse {
    // The patched methods stay on `res` (a wrapper installed after ours may call through them); they stop observing.
    this.#done = true;
    const chunks = this.#chunks;
    this.#chunks = [];
    return {
      chunks,
      bytes: this.#bytes,
      truncated: this.#truncated,
      ttfbMs: this.#firstWriteAt === undefined ? undefined : this.#firstWriteAt - this.#startedAt,
      writes: this.#writes,
    };
  }
}
