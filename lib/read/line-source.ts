/**
 * Reads one log file as lines, pulled a chunk at a time so several files can be merged without buffering any of them.
 * Gzip is detected from the first two bytes, so rotated files (`shadow.log.3.gz`, or compressed without the suffix) are read alike.
 */
import { open, type FileHandle } from 'node:fs/promises';
import type { ReadStream } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';
import { createGunzip } from 'node:zlib';
import type { Readable } from 'node:stream';
import { ShadowLogReadError, type FileReadStats } from './types.js';

const CHUNK_BYTES = 256 * 1024;

const ERRNO_TEXT: Record<string, string> = {
  ENOENT: 'no such file',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EISDIR: 'is a directory',
  ENOTDIR: 'a parent is not a directory',
  EMFILE: 'too many open files',
};

/** The reason without the absolute path Node puts in its messages, so the text is the same on every machine. */
function describeError(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  const text = e.code === undefined ? undefined : ERRNO_TEXT[e.code];
  return text === undefined ? e.message : `${text} (${e.code})`;
}

export class LineSource {
  readonly stats: FileReadStats;
  /** `true` once every line has been handed out. */
  done = false;
  /** 1-based number of the line last returned by `nextLine()`. */
  lineNumber = 0;
  /** `true` when the line last returned ended the file without a newline. */
  lastLineUnterminated = false;
  /** Set when the line last returned was cut because it exceeded `maxLineLength` (its text is the start). */
  lastLineTooLong = false;

  readonly #handle: FileHandle;
  readonly #fileStream: ReadStream;
  readonly #iterator: AsyncIterator<Buffer>;
  readonly #decoder = new StringDecoder('utf8');
  readonly #maxLineLength: number;
  #lines: string[] = [];
  #pos = 0;
  #rest = '';
  #restTooLong = false;
  #unterminatedIndex = -1;
  #tooLong = new Set<number>();
  #eof = false;

  private constructor(handle: FileHandle, stats: FileReadStats, maxLineLength: number) {
    this.#handle = handle;
    this.stats = stats;
    this.#maxLineLength = maxLineLength;
    this.#fileStream = handle.createReadStream({ start: 0, highWaterMark: CHUNK_BYTES, autoClose: false });
    const stream: Readable = stats.gzip ? this.#fileStream.pipe(createGunzip({ chunkSize: CHUNK_BYTES })) : this.#fileStream;
    if (stats.gzip) {
      // An error of the file stream is not forwarded by pipe(); surface it through the gunzip stream we iterate.
      this.#fileStream.on('error', (err) => stream.destroy(err));
    }
    this.#iterator = stream[Symbol.asyncIterator]();
  }

  /** Opens `absolutePath`; throws `ShadowLogReadError` when it cannot be opened or is not a file. */
  static async open(absolutePath: string, displayPath: string, maxLineLength: number): Promise<LineSource> {
    let handle: FileHandle;
    try {
      handle = await open(absolutePath, 'r');
    } catch (err) {
      throw new ShadowLogReadError('ERR_SHADOW_LOG_UNREADABLE', `Cannot open ${displayPath}: ${describeError(err)}`, displayPath, { cause: err });
    }
    try {
      const info = await handle.stat();
      if (!info.isFile()) {
        throw new Error('not a regular file');
      }
      const magic = Buffer.alloc(2);
      const { bytesRead } = await handle.read(magic, 0, 2, 0);
      const gzip = bytesRead === 2 && magic[0] === 0x1f && magic[1] === 0x8b;
      const stats: FileReadStats = {
        path: displayPath,
        gzip,
        bytes: info.size,
        lines: 0,
        records: 0,
        unparseable: 0,
        unrecognised: 0,
        truncated: false,
        error: null,
      };
      return new LineSource(handle, stats, maxLineLength);
    } catch (err) {
      await handle.close().catch(() => undefined);
      throw new ShadowLogReadError('ERR_SHADOW_LOG_UNREADABLE', `Cannot read ${displayPath}: ${describeError(err)}`, displayPath, { cause: err });
    }
  }

  /** Bytes read from disk so far. */
  get bytesRead(): number {
    return this.#fileStream.bytesRead;
  }

  /** The next buffered line, or `undefined` when `fill()` must be awaited first (or `done` is set). */
  nextLine(): string | undefined {
    if (this.#pos >= this.#lines.length) {
      return undefined;
    }
    const index = this.#pos++;
    this.lineNumber++;
    this.lastLineUnterminated = index === this.#unterminatedIndex;
    this.lastLineTooLong = this.#tooLong.size > 0 && this.#tooLong.has(index);
    return this.#lines[index];
  }

  /** Reads the next chunk into the line buffer; sets `done` when nothing is left. */
  async fill(): Promise<void> {
    if (this.#eof) {
      this.done = this.#pos >= this.#lines.length;
      return;
    }
    this.#lines = [];
    this.#pos = 0;
    this.#unterminatedIndex = -1;
    if (this.#tooLong.size > 0) this.#tooLong = new Set();
    while (this.#lines.length === 0 && !this.#eof) {
      let result: IteratorResult<Buffer>;
      try {
        result = await this.#iterator.next();
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        // zlib says "unexpected end of file" when a .gz was cut (still being written, or a crash); that is truncation.
        this.stats.truncated = true;
        this.stats.error = e.code === 'Z_BUF_ERROR' ? null : `${e.code ?? 'error'}: ${e.message}`;
        result = { done: true, value: undefined };
      }
      if (result.done) {
        this.#eof = true;
        const tail = this.#rest + this.#decoder.end();
        this.#rest = '';
        if (tail.length > 0 || this.#restTooLong) {
          this.#lines.push(tail);
          this.#unterminatedIndex = this.#lines.length - 1;
          if (this.#restTooLong) this.#tooLong.add(this.#lines.length - 1);
        }
        await this.close();
      } else {
        this.#split(this.#decoder.write(result.value));
      }
    }
    this.done = this.#eof && this.#lines.length === 0;
  }

  #split(text: string): void {
    let start = 0;
    let nl = text.indexOf('\n');
    while (nl !== -1) {
      if (this.#restTooLong) {
        // The end of an over-long line: hand out only its start, flagged.
        this.#lines.push(this.#rest);
        this.#tooLong.add(this.#lines.length - 1);
        this.#restTooLong = false;
      } else {
        this.#lines.push(this.#rest.length > 0 ? this.#rest + text.slice(start, nl) : text.slice(start, nl));
      }
      this.#rest = '';
      start = nl + 1;
      nl = text.indexOf('\n', start);
    }
    if (this.#restTooLong) {
      return; // still inside an over-long line: keep only its start
    }
    this.#rest += text.slice(start);
    if (this.#rest.length > this.#maxLineLength) {
      this.#rest = this.#rest.slice(0, 120);
      this.#restTooLong = true;
    }
  }

  /** Releases the file; safe to call twice. */
  async close(): Promise<void> {
    this.#eof = true;
    this.#fileStream.destroy();
    await this.#handle.close().catch(() => undefined);
  }
}
