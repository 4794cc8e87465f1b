/**
 * One log file of the engine: records become JSON lines, lines written in the same tick become one winston call,
 * and winston hands them to a file stream of ours whose write callbacks tell exactly which lines reached the file.
 * That accounting is what bounds memory (`pendingBytes`), makes `flush()` exact, and counts every dropped record.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { Writable } from 'node:stream';
import winston from 'winston';

/** How a record sink fared so far. For a shared log file, the figures cover every sink writing to it. */
export interface SinkStats {
  /** Records that reached the file (or were handed to the app's logger without error). */
  written: number;
  /**
   * Records lost, by reason: `write_error` (the disk refused them, or they arrived while the file was being
   * retried), `backpressure` (more than `maxPendingLogBytes` waiting for the disk), `unserialisable`
   * (`JSON.stringify` threw), `logger_error` (the app's logger threw), `closed` (written after `close()`).
   */
  dropped: Record<string, number>;
  /** Bytes of records accepted and not yet written to the file. */
  pendingBytes: number;
  /** True from a write error until a write succeeds again. */
  failing: boolean;
}

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
}

/**
 * 16 MiB: about 10 000 typical records (1–2 KiB with bodies cut at 64 KiB), several seconds of a stalled disk at a
 * busy service's record rate, and still a quarter of the default `maxQueuedBytes`, so a stuck log never costs more
 * memory than the mirroring it records.
 */
export const DEFAULT_MAX_PENDING_LOG_BYTES = 16 * 1_048_576;
export const WARNING_CODE = 'EXPRESS_SHADOW_LOG';
export const BACKPRESSURE_WARNING_CODE = 'EXPRESS_SHADOW_LOG_BACKPRESSURE';
/** A batch is handed over early once this big, so one tick's burst never becomes one huge string. */
const MAX_BATCH_BYTES = 65_536;
const kBatch = Symbol('express-shadow.batch');

/** Lines handed over together; settled once, as written or as dropped. */
interface Batch {
  text: string;
  records: number;
  bytes: number;
  settled: boolean;
  onSettled: (() => void)[] | undefined;
}

/** One opening of the path. After a reopen the old one finishes its writes while the new one takes new lines. */
interface Opening {
  stream: WriteStream;
  batches: Set<Batch>;
  failed: boolean;
}

export class LogFile {
  /** Sinks holding this file; the last one to close closes it. */
  refs = 0;
  private readonly maxPendingBytes: number;
  private readonly firstRetryDelayMs: number;
  private readonly maxRetryDelayMs: number;
  private readonly batchLines: boolean;
  private readonly logger: winston.Logger;
  private written = 0;
  private readonly dropped: Record<string, number> = {};
  private pendingBytes = 0;
  private failing = false;
  private overloaded = false;
  private current: Opening | undefined;
  /** The opening a reopen() is closing: new lines wait for it, so the path never has two writers out of order. */
  private draining: Opening | undefined;
  private readonly waitingForDrain: Batch[] = [];
  private open: Batch | undefined;
  private handOverScheduled = false;
  private readonly unsettled = new Set<Batch>();
  private retryTimer: NodeJS.Timeout | undefined;
  private retryDelayMs: number;

  constructor(
    readonly path: string,
    options: FileSinkOptions,
  ) {
    this.maxPendingBytes = options.maxPendingBytes ?? DEFAULT_MAX_PENDING_LOG_BYTES;
    this.firstRetryDelayMs = options.retryDelayMs ?? 1000;
    this.maxRetryDelayMs = options.maxRetryDelayMs ?? 30_000;
    this.batchLines = options.batchLines ?? true;
    this.retryDelayMs = this.firstRetryDelayMs;
    this.logger = this.createLogger();
  }

  /** winston in object mode over a stream of ours: the line is ours, serialised once, and reaches us untouched. */
  private createLogger(): winston.Logger {
    const toFile = new Writable({
      objectMode: true,
      write: (info: { [kBatch]?: Batch }, _encoding, done) => {
        const batch = info[kBatch];
        if (batch) this.toFile(batch);
        done();
      },
    });
    const logger = winston.createLogger({
      level: 'info',
      exitOnError: false,
      // Passes the info on as it is: no format may serialise the line a second time.
      format: winston.format((info) => info)(),
      transports: [new winston.transports.Stream({ stream: toFile })],
    });
    logger.on('error', () => {});
    return logger;
  }

  write(record: unknown): void {
    let line: string | undefined;
    try {
      line = JSON.stringify(record);
    } catch {
      line = undefined;
    }
    if (line === undefined) return this.drop('unserialisable');
    this.append(line);
  }

  drop(reason: string, records = 1): void {
    this.dropped[reason] = (this.dropped[reason] ?? 0) + records;
  }

  /** Queues one line (without its newline; JSON has none inside). */
  private append(line: string): void {
    if (this.retryTimer) return this.drop('write_error');
    // Measured on the flat string JSON.stringify returned: measuring `line + '\n'` would flatten a copy first.
    const bytes = Buffer.byteLength(line) + 1;
    if (this.pendingBytes + bytes > this.maxPendingBytes) return this.dropForBackpressure();
    if (this.overloaded && this.pendingBytes <= this.maxPendingBytes / 2) this.overloaded = false;
    this.pendingBytes += bytes;
    const batch = (this.open ??= { text: '', records: 0, bytes: 0, settled: false, onSettled: undefined });
    batch.text += line;
    batch.text += '\n';
    batch.records += 1;
    batch.bytes += bytes;
    if (!this.batchLines || batch.bytes >= MAX_BATCH_BYTES) return this.handOver();
    if (!this.handOverScheduled) {
      this.handOverScheduled = true;
      queueMicrotask(() => {
        this.handOverScheduled = false;
        this.handOver();
      });
    }
  }

  private dropForBackpressure(): void {
    this.drop('backpressure');
    if (this.overloaded) return;
    // One warning per overload: it ends once the backlog has halved, so a sink at the edge does not warn per record.
    this.overloaded = true;
    process.emitWarning(
      `express-shadow: the log file ${this.path} cannot keep up; records are dropped while more than ${this.maxPendingBytes} bytes wait to be written (counted in stats().log.dropped.backpressure)`,
      { code: BACKPRESSURE_WARNING_CODE },
    );
  }

  private handOver(): void {
    const batch = this.open;
    if (!batch) return;
    this.open = undefined;
    this.unsettled.add(batch);
    this.logger.log({ level: 'info', message: batch.text, [kBatch]: batch });
  }

  /** Where winston's output lands: the current opening of the path, opened on the first batch. */
  private toFile(batch: Batch): void {
    if (this.retryTimer) return this.settle(batch, 'write_error');
    if (this.draining) return void this.waitingForDrain.push(batch);
    const opening = (this.current ??= this.openPath());
    opening.batches.add(batch);
    const text = batch.text;
    batch.text = '';
    opening.stream.write(text, (error) => this.onWritten(opening, batch, error));
  }

  private openPath(): Opening {
    const opening: Opening = { stream: createWriteStream(this.path, { flags: 'a' }), batches: new Set(), failed: false };
    opening.stream.on('error', (error) => this.fail(opening, error));
    // Whatever the stream still held when it closed did not reach the file.
    opening.stream.on('close', () => {
      for (const batch of opening.batches) this.settle(batch, 'write_error');
    });
    return opening;
  }

  private onWritten(opening: Opening, batch: Batch, error: Error | null | undefined): void {
    opening.batches.delete(batch);
    if (error) {
      this.settle(batch, 'write_error');
      this.fail(opening, error);
      return;
    }
    this.settle(batch);
    if (this.failing) this.recovered();
  }

  private settle(batch: Batch, droppedAs?: string): void {
    if (batch.settled) return;
    batch.settled = true;
    this.unsettled.delete(batch);
    this.pendingBytes -= batch.bytes;
    if (droppedAs) this.drop(droppedAs, batch.records);
    else this.written += batch.records;
    for (const resolve of batch.onSettled ?? []) resolve();
  }

  private fail(opening: Opening, error: Error): void {
    if (opening.failed) return;
    opening.failed = true;
    opening.stream.destroy();
    if (this.current === opening) {
      this.current = undefined;
      this.scheduleRetry();
    }
    if (this.failing) return;
    this.failing = true;
    const code = (error as NodeJS.ErrnoException).code ?? error.name;
    process.emitWarning(
      `express-shadow: cannot write the log file ${this.path} (${code}: ${error.message}); records are dropped and counted in stats().log.dropped.write_error until the file can be written again (retried with backoff)`,
      { code: WARNING_CODE },
    );
  }

  private scheduleRetry(): void {
    if (this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      // The next batch opens the path again.
      this.retryTimer = undefined;
    }, this.retryDelayMs);
    this.retryTimer.unref();
    this.retryDelayMs = Math.min(this.retryDelayMs * 2, this.maxRetryDelayMs);
  }

  private recovered(): void {
    this.failing = false;
    this.retryDelayMs = this.firstRetryDelayMs;
  }

  /**
   * After rotation: the old stream writes what it holds to the renamed file and closes; then new lines open the
   * path again (lines arriving meanwhile wait, counted in pendingBytes).
   */
  reopen(): void {
    // An operator reopening is also the moment to try a failing path again.
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    const old = this.current;
    if (!old) return;
    this.current = undefined;
    this.draining = old;
    old.stream.once('close', () => {
      this.draining = undefined;
      for (const batch of this.waitingForDrain.splice(0)) this.toFile(batch);
    });
    old.stream.end();
  }

  /** Resolves once every line accepted so far has been written or dropped. */
  flush(): Promise<void> {
    this.handOver();
    const waiting = [...this.unsettled];
    if (waiting.length === 0) return Promise.resolve();
    return new Promise((resolve) => {
      let left = waiting.length;
      const settledOne = () => {
        if (--left === 0) resolve();
      };
      for (const batch of waiting) (batch.onSettled ??= []).push(settledOne);
    });
  }

  /** Flushes, then closes the file. The caller bounds the wait; past it the writes go on without anyone waiting. */
  async shutdown(): Promise<void> {
    await this.flush();
    clearTimeout(this.retryTimer);
    this.logger.end();
    const opening = this.current;
    this.current = undefined;
    if (!opening || opening.stream.destroyed) return;
    await new Promise<void>((resolve) => {
      opening.stream.once('close', resolve);
      opening.stream.end();
    });
  }

  stats(): SinkStats {
    return { written: this.written, dropped: { ...this.dropped }, pendingBytes: this.pendingBytes, failing: this.failing };
  }
}
