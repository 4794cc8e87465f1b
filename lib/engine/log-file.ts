/**
 * One log file of the engine: records become JSON lines, lines written in the same tick become one winston call,
 * and winston hands them to a writer of ours that tells exactly which lines reached the file. That accounting is
 * what bounds memory (`pendingBytes`), makes `flush()` exact, and counts every dropped record.
 *
 * Written lines are counted as written only once checked: the path must still name the file they went to. A file
 * deleted under us (its directory removed, say) is noticed, its unchecked lines are written again to the path
 * opened anew (or dropped and counted when it cannot be), and a file moved away is simply reopened. A write that
 * fails part-way (a full disk) leaves no torn line: the partial line is cut off, or, where it cannot be (a pipe),
 * ended before the next line. Nothing here blocks a thread (log-opening.ts), so no log target keeps the process
 * from exiting.
 */
import type { SinkStats } from '../types.js';
import { DEFAULT_MAX_PENDING_LOG_BYTES } from './sink-types.js';
import { LineLedger } from './log-ledger.js';
import { RetryBackoff } from './log-backoff.js';
import { LogWriter } from './log-writer.js';
import { LineBatcher } from './log-batcher.js';

/**
 * Written lines are checked once this many bytes wait (or a quarter of the pending bound, if less): their bytes are
 * kept until checked, to be written again should the file turn out deleted, and at saturation a second's worth was
 * 5-8 MB of the process's RSS. A check is two stat calls.
 */
const VERIFY_BYTES = 1_048_576;

/** Options of a log file sink, fixed by the first sink that opens the path. */
export interface FileSinkOptions {
  /** Past this many bytes waiting for the disk, records are dropped (`backpressure`). Default 16 MiB. */
  maxPendingBytes?: number;
  /** Delay before opening the file again after a write error; doubles up to `maxRetryDelayMs`. Default 1000. */
  retryDelayMs?: number;
  /** Longest delay between two attempts. Default 30 000. */
  maxRetryDelayMs?: number;
  /** Lines written in the same tick go to winston as one call. Default true; false exists to measure it. */
  batchLines?: boolean;
  /**
   * A FIFO without a reader, or a pipe whose reader takes nothing, is waited for this long (no byte moving) before
   * the lines waiting are dropped as `write_error` and the path is retried with backoff. Default 5000.
   */
  stallTimeoutMs?: number;
  /** Written lines are checked (does the path still name the file?) at least this often, and at every flush. Default 1000. */
  verifyIntervalMs?: number;
}

/**
 * A log file shared by the sinks of this thread that name its path: accepts records (within the memory bound, not
 * while the path is failing) and puts its parts together: the batcher (log-batcher.ts), the writer (log-writer.ts),
 * the retry backoff (log-backoff.ts) and the accounting of every line (log-ledger.ts).
 */
export class LogFile {
  /** Sinks holding this file; the last one to close closes it. */
  refs = 0;
  readonly #ledger: LineLedger;
  readonly #backoff: RetryBackoff;
  readonly #writer: LogWriter;
  readonly #batcher: LineBatcher;

  constructor(
    readonly path: string,
    options: FileSinkOptions,
  ) {
    const maxPendingBytes = options.maxPendingBytes ?? DEFAULT_MAX_PENDING_LOG_BYTES;
    this.#ledger = new LineLedger(path, maxPendingBytes);
    this.#backoff = new RetryBackoff(options.retryDelayMs ?? 1000, options.maxRetryDelayMs ?? 30_000);
    this.#writer = new LogWriter(
      path,
      { stallMs: options.stallTimeoutMs ?? 5000, verifyIntervalMs: options.verifyIntervalMs ?? 1000, verifyBytes: Math.min(VERIFY_BYTES, Math.ceil(maxPendingBytes / 4)) },
      this.#ledger,
      this.#backoff,
    );
    this.#batcher = new LineBatcher(this.#ledger, this.#writer, options.batchLines ?? true);
  }

  /** Serialises the record once and queues its line, or counts it as dropped. */
  write(record: unknown): void {
    let line: string | undefined;
    try {
      line = JSON.stringify(record);
    } catch {
      line = undefined;
    }
    const ledger = this.#ledger;
    if (line === undefined) return ledger.drop('unserialisable');
    if (this.#backoff.timer) return ledger.drop('write_error');
    // Measured on the flat string JSON.stringify returned: measuring `line + '\n'` would flatten a copy first.
    const bytes = Buffer.byteLength(line) + 1;
    if (ledger.pendingBytes + bytes > ledger.maxPendingBytes) return ledger.dropForBackpressure();
    if (ledger.overloaded && ledger.pendingBytes <= ledger.maxPendingBytes / 2) ledger.overloaded = false;
    ledger.pendingBytes += bytes;
    this.#batcher.append(line, bytes);
  }

  drop(reason: string, records = 1): void {
    this.#ledger.drop(reason, records);
  }

  /** After rotation: the lines after what is being written open the path again (see LogWriter.reopen). */
  reopen(): void {
    // Lines written before the reopen still gathering go with what is being written: to the file being rotated.
    this.#batcher.handOver();
    this.#writer.reopen();
  }

  /** Writes the lines accepted so far without waiting for more (see the batcher's gathering). */
  hurry(): void {
    try {
      this.#batcher.handOver();
    } catch {
      // Never into the engine: the lines stay queued for the next write.
    }
  }

  /** Resolves once every line accepted so far has been written (and checked) or dropped. */
  flush(): Promise<void> {
    this.#batcher.handOver();
    const flushed = this.#ledger.whenSettled();
    if (!flushed) return Promise.resolve();
    // Written lines that someone waits for are checked at once.
    this.#writer.kick();
    return flushed;
  }

  /** Flushes, then closes the file. The caller bounds the wait; past it the writes go on without anyone waiting. */
  async shutdown(): Promise<void> {
    await this.flush();
    // Closed before winston ends: a batch it still passes on is dropped as `closed`, not written.
    const closing = this.#writer.close();
    this.#batcher.end();
    await closing;
  }

  stats(): SinkStats {
    return this.#ledger.stats(this.#backoff.failing);
  }
}
