/**
 * Reads one log as lines, pulled a chunk at a time so several logs can be merged without buffering any of them
 * (the chunks, through gunzip when the log is gzip: chunk-input.ts).
 *
 * Lines are split on the bytes: each chunk is decoded once, from its first to its last newline, and split there, so
 * there is no per-line decoding and no string concatenation except for the one line that straddles two chunks. In
 * byte mode nothing is decoded: lines are ranges of the chunk, for a reader that decodes only the lines it needs.
 */
import { ChunkInput } from './chunk-input.js';
import { ByteBatch, Carry, TextBatch } from './line-batch.js';
import type { FileReadStats } from './types.js';

const NEWLINE = 0x0a;

export class LineSource {
  readonly stats: FileReadStats;
  /** `true` once every line has been handed out. */
  done = false;
  /** 1-based number of the line last returned by `nextLine()`. */
  lineNumber = 0;
  /** `true` when the line last returned ended the input without a newline. */
  lastLineUnterminated = false;
  /** Set when the line last returned was cut because it exceeded `maxLineLength` (its text is the start). */
  lastLineTooLong = false;
  /** In byte mode (`nextBytes`), the line last returned: `bytes` from `start` to `end`. */
  bytes: Buffer = Buffer.alloc(0);
  start = 0;
  end = 0;

  readonly #input: ChunkInput;
  #batch: TextBatch | ByteBatch;
  readonly #carry: Carry;
  /** Index in the batch of the next line to hand out. */
  #pos = 0;
  #eof = false;

  private constructor(input: ChunkInput, maxLineLength: number) {
    this.#input = input;
    this.stats = input.stats;
    this.#batch = new TextBatch(maxLineLength);
    this.#carry = new Carry(maxLineLength);
  }

  /** Opens a file or a pipe; throws `ShadowLogReadError` when it cannot be opened or is a directory. */
  static async open(absolutePath: string, displayPath: string, maxLineLength: number): Promise<LineSource> {
    return new LineSource(await ChunkInput.open(absolutePath, displayPath), maxLineLength);
  }

  /** Reads an already open stream (standard input for `-`). Its size is unknown, so it counts 0 bytes to the total. */
  static fromStream(stream: NodeJS.ReadableStream, displayPath: string, maxLineLength: number): LineSource {
    return new LineSource(ChunkInput.fromStream(stream, displayPath), maxLineLength);
  }

  /** Bytes read from the input so far (compressed bytes for gzip). */
  get bytesRead(): number {
    return this.#input.bytesRead;
  }

  /** Hands out lines as bytes (`nextBytes`) instead of text; call before the first `fill()`. */
  useBytes(): void {
    this.#batch = new ByteBatch(this.#batch.maxLineLength);
  }

  /**
   * Byte mode: moves to the next buffered line (`bytes`, `start`, `end`); `false` when `fill()` must be awaited first
   * (or `done` is set). The bytes stay valid until the next `fill()`.
   */
  nextBytes(): boolean {
    const batch = this.#batch as ByteBatch;
    if (this.#pos >= batch.length) return false;
    const index = this.#next();
    this.bytes = batch.buffers[index] as Buffer;
    this.start = batch.starts[index] as number;
    this.end = batch.ends[index] as number;
    return true;
  }

  /** The next buffered line, or `undefined` when `fill()` must be awaited first (or `done` is set). */
  nextLine(): string | undefined {
    const lines = (this.#batch as TextBatch).lines;
    return this.#pos >= lines.length ? undefined : lines[this.#next()];
  }

  /** Moves past the next line: its index in the batch. */
  #next(): number {
    const index = this.#pos++;
    this.lineNumber++;
    this.lastLineUnterminated = index === this.#batch.unterminated;
    this.lastLineTooLong = this.#batch.isTooLong(index);
    return index;
  }

  /** Reads the next chunk into the line buffer; sets `done` when nothing is left. */
  async fill(): Promise<void> {
    const batch = this.#batch;
    if (this.#eof) {
      this.done = this.#pos >= batch.length;
      return;
    }
    batch.clear();
    this.#pos = 0;
    while (batch.length === 0 && !this.#eof) {
      const chunk = await this.#input.next();
      if (chunk !== null) {
        this.#split(chunk);
        continue;
      }
      this.#eof = true;
      if (this.#carry.pending) {
        const tooLong = this.#carry.tooLong;
        batch.push(this.#carry.take(null), tooLong);
        batch.unterminated = batch.length - 1;
      }
      await this.close();
    }
    this.done = this.#eof && batch.length === 0;
  }

  /** Cuts a chunk into lines, in text or byte mode alike: the line it ends, its whole lines, the start of the next. */
  #split(chunk: Buffer): void {
    const last = chunk.lastIndexOf(NEWLINE);
    if (last === -1) {
      this.#carry.keep(chunk);
      return;
    }
    let start = 0;
    if (this.#carry.pending) {
      // The line that straddles chunks: its start is carried, its end is here.
      const end = chunk.indexOf(NEWLINE);
      const tooLong = this.#carry.tooLong;
      this.#batch.push(this.#carry.take(chunk.subarray(0, end)), tooLong);
      start = end + 1;
    }
    this.#batch.split(chunk, start, last);
    if (last + 1 < chunk.length) this.#carry.keep(chunk.subarray(last + 1));
  }

  /** Releases the input; safe to call twice. Standard input is left open for the process to own. */
  async close(): Promise<void> {
    this.#eof = true;
    await this.#input.close();
  }
}
