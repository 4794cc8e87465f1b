/**
 * Reads one log — a file, a pipe (`/dev/stdin`, `<(zcat …)`) or a stream — as lines, pulled a chunk at a time so several
 * logs can be merged without buffering any of them. Gzip is detected from the first two bytes, so rotated files
 * (`shadow.log.3.gz`, or compressed without the suffix) and `gzip -c … | express-shadow report -` are read alike.
 *
 * Lines are split on the bytes: each chunk is decoded once, from its first to its last newline, and split there, so
 * there is no per-line decoding and no string concatenation except for the one line that straddles two chunks.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { pipeline, Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { ShadowLogReadError, type FileReadStats } from './types.js';

const CHUNK_BYTES = 256 * 1024;
const NEWLINE = 0x0a;
/** Start of an over-long line kept for the bad-line example. */
const TOO_LONG_KEPT = 120;

const ERRNO_TEXT = new Map<string, string>([
  ['ENOENT', 'no such file'],
  ['EACCES', 'permission denied'],
  ['EPERM', 'permission denied'],
  ['EISDIR', 'is a directory'],
  ['ENOTDIR', 'a parent is not a directory'],
  ['EMFILE', 'too many open files'],
]);

/** The reason without the absolute path Node puts in its messages, so the text is the same on every machine. */
function describeError(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  const text = e.code === undefined ? undefined : ERRNO_TEXT.get(e.code);
  return text === undefined ? e.message : `${text} (${e.code})`;
}

function isGzip(chunk: Buffer): boolean {
  return chunk.length >= 2 && chunk[0] === 0x1f && chunk[1] === 0x8b;
}

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

function emptyFileStats(path: string, bytes: number): FileReadStats {
  return { path, gzip: false, bytes, lines: 0, records: 0, unparseable: 0, unrecognised: 0, truncated: false, error: null };
}

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

  /** The input: an open file (read into one reused buffer) or a stream (standard input). */
  readonly #input: FileHandle | Readable;
  readonly #maxLineLength: number;
  #chunks: AsyncIterator<Buffer> | undefined;
  #bytesRead = 0;
  #lines: string[] = [];
  /** Byte mode: lines are ranges of the chunk (or of a buffer of their own), decoded only by whoever needs the text. */
  #byteMode = false;
  #buffers: Buffer[] = [];
  #starts: number[] = [];
  #ends: number[] = [];
  #pos = 0;
  /** Bytes of a line that started in an earlier chunk (in parts, so a long line is not copied once per chunk). */
  #carry: Buffer[] | null = null;
  #carryLength = 0;
  #carryTooLong = false;
  #unterminatedIndex = -1;
  #tooLong: Set<number> | null = null;
  #eof = false;

  private constructor(input: FileHandle | Readable, stats: FileReadStats, maxLineLength: number) {
    this.#input = input;
    this.stats = stats;
    this.#maxLineLength = maxLineLength;
  }

  /** Opens a file or a pipe; throws `ShadowLogReadError` when it cannot be opened or is a directory. */
  static async open(absolutePath: string, displayPath: string, maxLineLength: number): Promise<LineSource> {
    let handle: FileHandle;
    try {
      handle = await open(absolutePath, 'r');
    } catch (err) {
      throw new ShadowLogReadError('ERR_SHADOW_LOG_UNREADABLE', `Cannot open ${displayPath}: ${describeError(err)}`, displayPath, { cause: err });
    }
    try {
      const info = await handle.stat();
      // Pipes and character devices (`/dev/stdin`, process substitution) are read like files, without a known size.
      if (!info.isFile() && !info.isFIFO() && !info.isCharacterDevice() && !info.isSocket()) {
        throw new Error('not a regular file');
      }
      return new LineSource(handle, emptyFileStats(displayPath, info.isFile() ? info.size : 0), maxLineLength);
    } catch (err) {
      await handle.close().catch(() => undefined);
      throw new ShadowLogReadError('ERR_SHADOW_LOG_UNREADABLE', `Cannot read ${displayPath}: ${describeError(err)}`, displayPath, { cause: err });
    }
  }

  /** Reads an already open stream (standard input for `-`). Its size is unknown, so it counts 0 bytes to the total. */
  static fromStream(stream: NodeJS.ReadableStream, displayPath: string, maxLineLength: number): LineSource {
    const raw = stream instanceof Readable ? stream : new Readable().wrap(stream);
    return new LineSource(raw, emptyFileStats(displayPath, 0), maxLineLength);
  }

  /** Bytes read from the input so far (compressed bytes for gzip). */
  get bytesRead(): number {
    return this.#bytesRead;
  }

  /** Hands out lines as bytes (`nextBytes`) instead of text; call before the first `fill()`. */
  useBytes(): void {
    this.#byteMode = true;
  }

  get #buffered(): number {
    return this.#byteMode ? this.#starts.length : this.#lines.length;
  }

  /**
   * Byte mode: moves to the next buffered line (`bytes`, `start`, `end`); `false` when `fill()` must be awaited first
   * (or `done` is set). The bytes stay valid until the next `fill()`.
   */
  nextBytes(): boolean {
    if (this.#pos >= this.#starts.length) return false;
    const index = this.#pos++;
    this.lineNumber++;
    this.lastLineUnterminated = index === this.#unterminatedIndex;
    this.lastLineTooLong = this.#tooLong !== null && this.#tooLong.has(index);
    this.bytes = this.#buffers[index] as Buffer;
    this.start = this.#starts[index] as number;
    this.end = this.#ends[index] as number;
    return true;
  }

  /** The next buffered line, or `undefined` when `fill()` must be awaited first (or `done` is set). */
  nextLine(): string | undefined {
    if (this.#pos >= this.#lines.length) {
      return undefined;
    }
    const index = this.#pos++;
    this.lineNumber++;
    this.lastLineUnterminated = index === this.#unterminatedIndex;
    this.lastLineTooLong = this.#tooLong !== null && this.#tooLong.has(index);
    return this.#lines[index];
  }

  /** Reads the next chunk into the line buffer; sets `done` when nothing is left. */
  async fill(): Promise<void> {
    if (this.#eof) {
      this.done = this.#pos >= this.#buffered;
      return;
    }
    this.#lines = [];
    this.#buffers.length = 0;
    this.#starts.length = 0;
    this.#ends.length = 0;
    this.#pos = 0;
    this.#unterminatedIndex = -1;
    this.#tooLong = null;
    this.#chunks ??= this.#decoded()[Symbol.asyncIterator]();
    while (this.#buffered === 0 && !this.#eof) {
      let result: IteratorResult<Buffer>;
      try {
        result = await this.#chunks.next();
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        // zlib says "unexpected end of file" when a .gz was cut (still being written, or a crash); that is truncation.
        this.stats.truncated = true;
        this.stats.error = e.code === 'Z_BUF_ERROR' ? null : `${e.code ?? 'error'}: ${e.message}`;
        result = { done: true, value: undefined };
      }
      if (result.done === true) {
        this.#eof = true;
        this.#endOfInput();
        await this.close();
      } else if (this.#byteMode) {
        this.#splitBytes(result.value);
      } else {
        this.#split(result.value);
      }
    }
    this.done = this.#eof && this.#buffered === 0;
  }

  /**
   * Raw chunks of the input. A file is read into one reused buffer (each chunk is decoded or copied before the next
   * read): a stream's fresh buffer per chunk cost about 6 times the CPU of the read itself.
   */
  async *#raw(): AsyncGenerator<Buffer, void, undefined> {
    const input = this.#input;
    if (input instanceof Readable) {
      for await (const chunk of input as AsyncIterable<Buffer>) yield chunk;
      return;
    }
    const buffer = Buffer.allocUnsafeSlow(CHUNK_BYTES);
    for (;;) {
      const { bytesRead } = await input.read(buffer, 0, CHUNK_BYTES, null);
      if (bytesRead === 0) return;
      yield buffer.subarray(0, bytesRead);
    }
  }

  /** Raw chunks, counted, then through gunzip when the first bytes say so. */
  async *#decoded(): AsyncGenerator<Buffer, void, undefined> {
    const raw = this.#raw();
    let first: Buffer = Buffer.alloc(0);
    // A pipe may hand over a single byte first; wait for two to decide.
    while (first.length < 2) {
      const result = await raw.next();
      if (result.done === true) break;
      this.#bytesRead += result.value.length;
      first = Buffer.concat([first, result.value]);
    }
    const gzip = isGzip(first);
    const rest = async function* (this: LineSource): AsyncGenerator<Buffer, void, undefined> {
      if (first.length > 0) yield first;
      for (let r = await raw.next(); r.done !== true; r = await raw.next()) {
        this.#bytesRead += r.value.length;
        // gunzip may still hold a chunk when the next is read: it gets its own copy of the reused buffer.
        yield gzip ? Buffer.from(r.value) : r.value;
      }
    }.call(this);
    if (!gzip) {
      yield* rest;
      return;
    }
    this.stats.gzip = true;
    const gunzip = createGunzip({ chunkSize: CHUNK_BYTES });
    // pipeline() destroys gunzip with any error of the input, so iterating gunzip sees it.
    pipeline(Readable.from(rest, { objectMode: false }), gunzip, () => undefined);
    yield* gunzip as AsyncIterable<Buffer>;
  }

  #endOfInput(): void {
    const carry = this.#carry;
    this.#carry = null;
    if (carry === null && !this.#carryTooLong) return;
    const bytes = carry === null ? Buffer.alloc(0) : Buffer.concat(carry);
    if (this.#byteMode) this.#pushBytes(bytes, 0, bytes.length, this.#carryTooLong);
    else this.#pushLine(bytes.toString('utf8'), this.#carryTooLong);
    this.#carryTooLong = false;
    this.#unterminatedIndex = this.#buffered - 1;
  }

  /** Byte mode: a line from `start` to `end` of `bytes`; one over `maxLineLength` keeps only its start, copied. */
  #pushBytes(bytes: Buffer, start: number, end: number, tooLong: boolean): void {
    if (tooLong || end - start > this.#maxLineLength) {
      (this.#tooLong ??= new Set()).add(this.#starts.length);
      bytes = Buffer.from(bytes.subarray(start, Math.min(end, start + TOO_LONG_KEPT * 4)));
      start = 0;
      end = bytes.length;
    }
    this.#buffers.push(bytes);
    this.#starts.push(start);
    this.#ends.push(end);
  }

  /** Byte mode `#split`: records where each line is, decoding nothing. */
  #splitBytes(chunk: Buffer): void {
    const last = chunk.lastIndexOf(NEWLINE);
    if (last === -1) {
      this.#keep(chunk);
      return;
    }
    let start = 0;
    if (this.#carry !== null || this.#carryTooLong) {
      const end = chunk.indexOf(NEWLINE);
      const parts = this.#carry ?? [];
      if (!this.#carryTooLong) parts.push(chunk.subarray(0, end));
      const line = Buffer.concat(parts);
      this.#pushBytes(line, 0, line.length, this.#carryTooLong);
      this.#carry = null;
      this.#carryTooLong = false;
      start = end + 1;
    }
    for (let end = chunk.indexOf(NEWLINE, start); end !== -1 && end <= last; end = chunk.indexOf(NEWLINE, start)) {
      this.#pushBytes(chunk, start, end, false);
      start = end + 1;
    }
    if (last + 1 < chunk.length) this.#keep(chunk.subarray(last + 1));
  }

  #pushLine(text: string, tooLong: boolean): void {
    if (tooLong || text.length > this.#maxLineLength) {
      (this.#tooLong ??= new Set()).add(this.#lines.length);
      this.#lines.push(text.slice(0, TOO_LONG_KEPT));
    } else {
      this.#lines.push(text);
    }
  }

  #split(chunk: Buffer): void {
    const last = chunk.lastIndexOf(NEWLINE);
    if (last === -1) {
      this.#keep(chunk);
      return;
    }
    let start = 0;
    if (this.#carry !== null || this.#carryTooLong) {
      // The line that straddles chunks: its start is carried, its end is here.
      const end = chunk.indexOf(NEWLINE);
      const parts = this.#carry ?? [];
      if (!this.#carryTooLong) parts.push(chunk.subarray(0, end));
      this.#pushLine(Buffer.concat(parts).toString('utf8'), this.#carryTooLong);
      this.#carry = null;
      this.#carryTooLong = false;
      start = end + 1;
    }
    // Decoding whole lines only: a newline byte never sits inside a multi-byte UTF-8 character.
    while (start <= last) {
      const end = pieceEnd(chunk, start, last);
      for (const line of chunk.toString('utf8', start, end).split('\n')) {
        if (line.length > this.#maxLineLength) this.#pushLine(line, true);
        else this.#lines.push(line);
      }
      start = end + 1;
    }
    if (last + 1 < chunk.length) this.#keep(chunk.subarray(last + 1));
  }

  /** Carries the start of an unfinished line; only its start when it is already over the limit. */
  #keep(bytes: Buffer): void {
    if (this.#carryTooLong) return;
    const parts = (this.#carry ??= []);
    if (parts.length === 0) this.#carryLength = 0;
    this.#carryLength += bytes.length;
    if (this.#carryLength > this.#maxLineLength) {
      parts.push(bytes);
      this.#carry = [Buffer.from(Buffer.concat(parts).subarray(0, TOO_LONG_KEPT))];
      this.#carryTooLong = true;
      return;
    }
    // Copy, so a short carry does not keep a whole chunk alive.
    parts.push(Buffer.from(bytes));
  }

  /** Releases the input; safe to call twice. Standard input is left open for the process to own. */
  async close(): Promise<void> {
    this.#eof = true;
    if (this.#input instanceof Readable) return;
    await this.#input.close().catch(() => undefined);
  }
}
