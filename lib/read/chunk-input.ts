/**
 * The raw input of one log — a file, a pipe (`/dev/stdin`, `<(zcat …)`) or a stream — as chunks of bytes, through
 * gunzip when the first two bytes say gzip (so rotated files, `shadow.log.3.gz` or compressed without the suffix, and
 * `gzip -c … | express-shadow report -` read alike). line-source.ts cuts the chunks into lines.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { pipeline, Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { ShadowLogReadError, type FileReadStats } from './types.js';

export const CHUNK_BYTES = 256 * 1024;

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

function emptyFileStats(path: string, bytes: number): FileReadStats {
  return { path, gzip: false, bytes, lines: 0, records: 0, unparseable: 0, unrecognised: 0, truncated: false, error: null };
}

export class ChunkInput {
  /** The file's figures: `gzip`, `truncated` and `error` are set here, the line counts by the reader. */
  readonly stats: FileReadStats;
  /** The input: an open file (read into one reused buffer) or a stream (standard input). */
  readonly #input: FileHandle | Readable;
  #chunks: AsyncIterator<Buffer> | undefined;
  #bytesRead = 0;

  private constructor(input: FileHandle | Readable, stats: FileReadStats) {
    this.#input = input;
    this.stats = stats;
  }

  /** Opens a file or a pipe; throws `ShadowLogReadError` when it cannot be opened or is a directory. */
  static async open(absolutePath: string, displayPath: string): Promise<ChunkInput> {
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
      return new ChunkInput(handle, emptyFileStats(displayPath, info.isFile() ? info.size : 0));
    } catch (err) {
      await handle.close().catch(() => undefined);
      throw new ShadowLogReadError('ERR_SHADOW_LOG_UNREADABLE', `Cannot read ${displayPath}: ${describeError(err)}`, displayPath, { cause: err });
    }
  }

  /** Reads an already open stream (standard input for `-`). Its size is unknown, so it counts 0 bytes to the total. */
  static fromStream(stream: NodeJS.ReadableStream, displayPath: string): ChunkInput {
    const raw = stream instanceof Readable ? stream : new Readable().wrap(stream);
    return new ChunkInput(raw, emptyFileStats(displayPath, 0));
  }

  /** Bytes read from the input so far (compressed bytes for gzip). */
  get bytesRead(): number {
    return this.#bytesRead;
  }

  /**
   * The next chunk (valid until the next call), or `null` at the end. An error of the input ends it: the file counts
   * as truncated, with the error (none for a cut gzip, which is what a file still being written looks like).
   */
  async next(): Promise<Buffer | null> {
    this.#chunks ??= this.#decoded()[Symbol.asyncIterator]();
    try {
      const result = await this.#chunks.next();
      return result.done === true ? null : result.value;
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      // zlib says "unexpected end of file" when a .gz was cut (still being written, or a crash); that is truncation.
      this.stats.truncated = true;
      this.stats.error = e.code === 'Z_BUF_ERROR' ? null : `${e.code ?? 'error'}: ${e.message}`;
      return null;
    }
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
    const rest = async function* (this: ChunkInput): AsyncGenerator<Buffer, void, undefined> {
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

  /** Releases the input; safe to call twice. Standard input is left open for the process to own. */
  async close(): Promise<void> {
    if (this.#input instanceof Readable) return;
    await this.#input.close().catch(() => undefined);
  }
}
