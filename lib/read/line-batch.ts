/**
 * The lines of one chunk of a log, as text (`TextBatch`) or as byte ranges decoded only by whoever needs the text
 * (`ByteBatch`), and the start of a line that continues in the next chunk (`Carry`). line-source.ts cuts each chunk
 * the same way for both: the line that straddles two chunks is joined once per chunk, the rest go to the batch in bulk,
 * so no line costs a call more in either.
 */

const NEWLINE = 0x0a;
/** Start of an over-long line kept for the bad-line example. */
export const TOO_LONG_KEPT = 120;
/**
 * Text is decoded at most this many bytes at a time: V8 puts a string over 128 KiB in its large-object space, and
 * decoding a 256 KiB chunk at once was measured at 30 times the cost of decoding it in 64 KiB pieces.
 */
const PIECE_BYTES = 64 * 1024;

/** The newline ending the piece that starts at `start`: the last one within PIECE_BYTES, else the next one. */
function pieceEnd(chunk: Buffer, start: number, last: number): number {
  if (last - start <= PIECE_BYTES) return last;
  const within = chunk.lastIndexOf(NEWLINE, start + PIECE_BYTES);
  return within >= start ? within : chunk.indexOf(NEWLINE, start);
}

/** The lines of the chunk last read, with which were cut for their length and which ended the input unterminated. */
abstract class Batch {
  readonly maxLineLength: number;
  /** Index of the line that ended the input without a newline, or -1. */
  unterminated = -1;
  #tooLong: Set<number> | null = null;

  constructor(maxLineLength: number) {
    this.maxLineLength = maxLineLength;
  }

  abstract get length(): number;
  /** Adds one whole line, `bytes` (a line that straddled chunks, or the input's unterminated last). */
  abstract push(bytes: Buffer, tooLong: boolean): void;
  /** Adds every line of `chunk` from `start` to the newline at `last`. */
  abstract split(chunk: Buffer, start: number, last: number): void;

  clear(): void {
    this.unterminated = -1;
    this.#tooLong = null;
  }

  /** Whether line `index` was over `maxLineLength` (only its start is kept). */
  isTooLong(index: number): boolean {
    return this.#tooLong !== null && this.#tooLong.has(index);
  }

  protected markTooLong(index: number): void {
    (this.#tooLong ??= new Set()).add(index);
  }
}

export class TextBatch extends Batch {
  lines: string[] = [];

  get length(): number {
    return this.lines.length;
  }

  override clear(): void {
    super.clear();
    this.lines = [];
  }

  push(bytes: Buffer, tooLong: boolean): void {
    this.#pushText(bytes.toString('utf8'), tooLong);
  }

  #pushText(text: string, tooLong: boolean): void {
    if (tooLong || text.length > this.maxLineLength) {
      this.markTooLong(this.lines.length);
      this.lines.push(text.slice(0, TOO_LONG_KEPT));
    } else {
      this.lines.push(text);
    }
  }

  split(chunk: Buffer, start: number, last: number): void {
    // Decoding whole lines only: a newline byte never sits inside a multi-byte UTF-8 character.
    while (start <= last) {
      const end = pieceEnd(chunk, start, last);
      for (const line of chunk.toString('utf8', start, end).split('\n')) {
        if (line.length > this.maxLineLength) this.#pushText(line, true);
        else this.lines.push(line);
      }
      start = end + 1;
    }
  }
}

export class ByteBatch extends Batch {
  /** Line `i` is `buffers[i]` from `starts[i]` to `ends[i]`. */
  readonly buffers: Buffer[] = [];
  readonly starts: number[] = [];
  readonly ends: number[] = [];

  get length(): number {
    return this.starts.length;
  }

  override clear(): void {
    super.clear();
    this.buffers.length = 0;
    this.starts.length = 0;
    this.ends.length = 0;
  }

  push(bytes: Buffer, tooLong: boolean): void {
    this.#pushRange(bytes, 0, bytes.length, tooLong);
  }

  /** A line from `start` to `end` of `bytes`; one over `maxLineLength` keeps only its start, copied. */
  #pushRange(bytes: Buffer, start: number, end: number, tooLong: boolean): void {
    if (tooLong || end - start > this.maxLineLength) {
      this.markTooLong(this.starts.length);
      bytes = Buffer.from(bytes.subarray(start, Math.min(end, start + TOO_LONG_KEPT * 4)));
      start = 0;
      end = bytes.length;
    }
    this.buffers.push(bytes);
    this.starts.push(start);
    this.ends.push(end);
  }

  /** Records where each line is, decoding nothing. */
  split(chunk: Buffer, start: number, last: number): void {
    for (let end = chunk.indexOf(NEWLINE, start); end !== -1 && end <= last; end = chunk.indexOf(NEWLINE, start)) {
      this.#pushRange(chunk, start, end, false);
      start = end + 1;
    }
  }
}

/** The bytes of a line that started in an earlier chunk, in parts (a long line is not copied once per chunk). */
export class Carry {
  readonly #maxLineLength: number;
  #parts: Buffer[] | null = null;
  #length = 0;
  /** Over `maxLineLength` already: only its start is kept. */
  tooLong = false;

  constructor(maxLineLength: number) {
    this.#maxLineLength = maxLineLength;
  }

  /** Whether a line is waiting for its end. */
  get pending(): boolean {
    return this.#parts !== null || this.tooLong;
  }

  /** Carries the start of an unfinished line; only its start when it is already over the limit. */
  keep(bytes: Buffer): void {
    if (this.tooLong) return;
    const parts = (this.#parts ??= []);
    if (parts.length === 0) this.#length = 0;
    this.#length += bytes.length;
    if (this.#length > this.#maxLineLength) {
      parts.push(bytes);
      this.#parts = [Buffer.from(Buffer.concat(parts).subarray(0, TOO_LONG_KEPT))];
      this.tooLong = true;
      return;
    }
    // Copy, so a short carry does not keep a whole chunk alive.
    parts.push(Buffer.from(bytes));
  }

  /** The line carried, ended by `tail` (none at the end of the input); empties the carry (read `tooLong` first). */
  take(tail: Buffer | null): Buffer {
    const parts = this.#parts ?? [];
    if (!this.tooLong && tail !== null) parts.push(tail);
    this.#parts = null;
    this.tooLong = false;
    return Buffer.concat(parts);
  }
}
