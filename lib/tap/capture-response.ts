/**
 * Observation of the production response: the bytes handed to `res.write`/`res.end` (up to a cap), and the moment
 * the response finished. Every argument is passed through unchanged, so what is sent is exactly what the app wrote.
 */
import type { ServerResponse } from 'node:http';
import type { BudgetHold } from '../byte-budget.js';

type WriteArgs = Parameters<ServerResponse['write']>;
type EndArgs = Parameters<ServerResponse['end']>;

export interface CapturedResponse {
  /** The first `cap` bytes written (after any compression applied by middleware mounted after this one). */
  body: Buffer;
  /** All bytes written. */
  bytes: number;
  /** `true` when more was written than was kept. */
  truncated: boolean;
  /** `performance.now()` of the first non-empty write, if any. */
  firstWriteAt: number | undefined;
  /** Non-empty writes (chunks of a streamed answer). */
  chunks: number;
}

export class ResponseCapture {
  #chunks: Buffer[] = [];
  #kept = 0;
  #bytes = 0;
  #truncated = false;
  #done = false;
  #firstWriteAt: number | undefined;
  #writes = 0;

  constructor(
    res: ServerResponse,
    private readonly cap: number,
    private readonly hold: BudgetHold,
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
    let size: number;
    let buffer: Buffer | undefined;
    if (typeof chunk === 'string') {
      const enc = typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8';
      size = Buffer.byteLength(chunk, enc);
      if (!this.#truncated && this.#kept < this.cap) buffer = Buffer.from(chunk, enc);
    } else if (chunk instanceof Uint8Array) {
      size = chunk.byteLength;
      buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    } else {
      return;
    }
    if (size > 0) {
      this.#firstWriteAt ??= performance.now();
      this.#writes++;
    }
    this.#bytes += size;
    if (this.#truncated || buffer === undefined || size === 0) return;
    const room = this.cap - this.#kept;
    const kept = size <= room ? buffer : buffer.subarray(0, room);
    if (kept.length > 0 && this.hold.take(kept.length)) {
      // Kept by reference, as Node's own write queue does: no copy on the response path.
      this.#chunks.push(kept);
      this.#kept += kept.length;
    }
    if (kept.length < size || this.#kept < this.#bytes) this.#truncated = true;
  }

  /** Stops observing and returns what was seen. */
  finish(): CapturedResponse {
    // The patched methods stay on `res` (a wrapper installed after ours may call through them); they stop observing.
    this.#done = true;
    const body = this.#chunks.length === 1 ? this.#chunks[0]! : Buffer.concat(this.#chunks, this.#kept);
    this.#chunks = [];
    return { body, bytes: this.#bytes, truncated: this.#truncated, firstWriteAt: this.#firstWriteAt, chunks: this.#writes };
  }
}
