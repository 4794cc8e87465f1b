/**
 * One opening of a log path, written without ever blocking a thread: the path is opened with `O_NONBLOCK`, so a
 * FIFO without a reader fails at once (`ENXIO`) instead of holding a libuv thread in `open(2)` (which would also
 * keep `process.exit()` from returning: libuv joins its threads at exit), and a pipe that is full answers `EAGAIN`
 * instead of holding one in `write(2)`; both are waited out here by polling, up to a stall limit.
 *
 * Hand-written rather than `fs.WriteStream` or sonic-boom because the log needs what neither tells: exactly how many
 * bytes reached the file when a write fails part-way (a full disk), so that no torn line is left behind and the
 * counters match the file; and whether the path still names the file written to (deleted, or replaced).
 */
import { constants } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';

const OPEN_FLAGS = constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | (constants.O_NONBLOCK ?? 0);
/** Polling a full pipe: first after this many ms, doubling up to `MAX_POLL_MS` while nothing moves. */
const FIRST_POLL_MS = 5;
const MAX_POLL_MS = 200;

/** What a write achieved: every byte, or `written` bytes and then `error`. */
export interface WriteResult {
  written: number;
  error?: NodeJS.ErrnoException;
}

/** `same`: the path names the file written to; `moved`: it names another file or none (our lines are in the moved file); `deleted`: our file has no name left (our lines are gone with it). */
export type Identity = 'same' | 'moved' | 'deleted';

/** Errors that mean "not yet" (a FIFO without a reader, a full pipe), not "never". */
function isNotReady(error: NodeJS.ErrnoException): boolean {
  return error.code === 'ENXIO' || error.code === 'EAGAIN' || error.code === 'EWOULDBLOCK';
}

function stalledError(stallMs: number, cause: NodeJS.ErrnoException): NodeJS.ErrnoException {
  const what = cause.code === 'ENXIO' ? 'no reader opened it' : 'its reader took nothing';
  return Object.assign(new Error(`${what} for ${stallMs} ms (${cause.code})`), { code: 'ESTALLED' });
}

/**
 * Opens `path` for appending, waiting out a FIFO without a reader (`ENXIO`) for up to `stallMs`. Rejects with the
 * open error, or `ESTALLED` when the wait ran out.
 */
export async function openLogPath(path: string, stallMs: number): Promise<LogOpening> {
  const started = Date.now();
  for (let pollMs = FIRST_POLL_MS; ; pollMs = Math.min(pollMs * 2, MAX_POLL_MS)) {
    try {
      const handle = await open(path, OPEN_FLAGS, 0o666);
      return new LogOpening(handle, (await handle.stat()).isFile());
    } catch (error) {
      const failure = error as NodeJS.ErrnoException;
      if (!isNotReady(failure)) throw failure;
      if (Date.now() - started >= stallMs) throw stalledError(stallMs, failure);
      await sleep(pollMs);
    }
  }
}

export class LogOpening {
  #closed = false;

  constructor(
    private readonly handle: FileHandle,
    /** A regular file: its bytes live in it (a FIFO's go to its reader), so it can be deleted under us and repaired. */
    readonly regular: boolean,
  ) {}

  /** Writes every byte of `buffers` in order, waiting out a full pipe until no byte has moved for `stallMs`. Never rejects. */
  async write(buffers: Buffer[], stallMs: number): Promise<WriteResult> {
    let pending = buffers.filter((buffer) => buffer.length > 0);
    let written = 0;
    let lastProgress = Date.now();
    let pollMs = FIRST_POLL_MS;
    while (pending.length > 0) {
      let bytes: number;
      try {
        ({ bytesWritten: bytes } = await this.handle.writev(pending));
      } catch (error) {
        const failure = error as NodeJS.ErrnoException;
        if (!isNotReady(failure)) return { written, error: failure };
        if (Date.now() - lastProgress >= stallMs) return { written, error: stalledError(stallMs, failure) };
        await sleep(pollMs);
        pollMs = Math.min(pollMs * 2, MAX_POLL_MS);
        continue;
      }
      // A disk that fills up takes part of a write and refuses the next: keep going until it says why.
      if (bytes > 0) {
        lastProgress = Date.now();
        pollMs = FIRST_POLL_MS;
      }
      written += bytes;
      pending = skipBytes(pending, bytes);
    }
    return { written };
  }

  /**
   * After a failed write left `fragment` (the start of a line) at the end of the file: cuts it off, if `path` still
   * names this file and it still ends with exactly those bytes (nothing else appended meanwhile). True when no torn
   * line is left. (Read through a second descriptor: ours is write-only, as a FIFO must be opened.)
   */
  async repairTail(fragment: Buffer, path: string): Promise<boolean> {
    if (fragment.length === 0) return true;
    if (!this.regular) return false;
    let reader: FileHandle | undefined;
    try {
      reader = await open(path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
      const [own, named] = await Promise.all([this.handle.stat(), reader.stat()]);
      if (own.ino !== named.ino || own.dev !== named.dev || own.size < fragment.length) return false;
      const tail = Buffer.alloc(fragment.length);
      const { bytesRead } = await reader.read(tail, 0, fragment.length, own.size - fragment.length);
      if (bytesRead !== fragment.length || !tail.equals(fragment)) return false;
      await this.handle.truncate(own.size - fragment.length);
      return true;
    } catch {
      return false;
    } finally {
      await reader?.close().catch(() => {});
    }
  }

  /** Whether `path` still names the file this opening writes to. When that cannot be told, the write is trusted. */
  async identity(path: string): Promise<Identity> {
    try {
      const own = await this.handle.stat();
      if (this.regular && own.nlink === 0) return 'deleted';
      const named = await stat(path).catch(() => undefined);
      return named && named.ino === own.ino && named.dev === own.dev ? 'same' : 'moved';
    } catch {
      return 'same';
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.handle.close().catch(() => {});
  }
}

/** `buffers` without their first `count` bytes. */
function skipBytes(buffers: Buffer[], count: number): Buffer[] {
  let index = 0;
  let left = count;
  while (index < buffers.length && left >= buffers[index]!.length) left -= buffers[index++]!.length;
  const rest = buffers.slice(index);
  if (left > 0 && rest.length > 0) rest[0] = rest[0]!.subarray(left);
  return rest;
}
