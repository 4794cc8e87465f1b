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
import { Writable } from 'node:stream';
import winston from 'winston';
import type { SinkStats } from '../types.js';
import { openLogPath, type LogOpening } from './log-opening.js';

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
  /** The lines as bytes, from the first attempt to write them until they are settled (they may be written again). */
  buffer: Buffer | undefined;
  records: number;
  bytes: number;
  /** Times written to a file that was then found deleted. */
  attempts: number;
  settled: boolean;
  onSettled: (() => void)[] | undefined;
}

/** Lines taken from the queue for one write: up to this many bytes, and this many batches (one iovec each). */
const MAX_WRITE_BYTES = 1_048_576;
const MAX_WRITE_BATCHES = 512;
/** Lines written again after their file was found deleted, at most this many times. */
const MAX_ATTEMPTS = 3;
const NEWLINE = Buffer.from('\n');

export class LogFile {
  /** Sinks holding this file; the last one to close closes it. */
  refs = 0;
  private readonly maxPendingBytes: number;
  private readonly firstRetryDelayMs: number;
  private readonly maxRetryDelayMs: number;
  private readonly batchLines: boolean;
  private readonly stallMs: number;
  private readonly verifyIntervalMs: number;
  /** Unchecked bytes past which lines are checked at once rather than at the next interval. */
  private readonly verifyBytes: number;
  private readonly logger: winston.Logger;
  private written = 0;
  private readonly dropped: Record<string, number> = {};
  private pendingBytes = 0;
  private failing = false;
  private overloaded = false;
  private open: Batch | undefined;
  private handOverScheduled = false;
  private readonly unsettled = new Set<Batch>();
  private retryTimer: NodeJS.Timeout | undefined;
  private retryDelayMs: number;
  /** Batches handed over by winston, waiting for the writer. */
  private readonly queue: Batch[] = [];
  /** Batches written to `opening` and not yet checked. */
  private unverified: Batch[] = [];
  private unverifiedBytes = 0;
  private opening: LogOpening | undefined;
  private pumping = false;
  private reopenRequested = false;
  private verifyRequested = false;
  private verifyTimer: NodeJS.Timeout | undefined;
  /** A line was left unfinished where it could not be cut off: the next write starts by ending it. */
  private tornTail = false;
  private closed = false;

  constructor(
    readonly path: string,
    options: FileSinkOptions,
  ) {
    this.maxPendingBytes = options.maxPendingBytes ?? DEFAULT_MAX_PENDING_LOG_BYTES;
    this.firstRetryDelayMs = options.retryDelayMs ?? 1000;
    this.maxRetryDelayMs = options.maxRetryDelayMs ?? 30_000;
    this.batchLines = options.batchLines ?? true;
    this.stallMs = options.stallTimeoutMs ?? 5000;
    this.verifyIntervalMs = options.verifyIntervalMs ?? 1000;
    this.verifyBytes = Math.ceil(this.maxPendingBytes / 4);
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
    const batch = (this.open ??= { text: '', buffer: undefined, records: 0, bytes: 0, attempts: 0, settled: false, onSettled: undefined });
    batch.text += line;
    batch.text += '\n';
    batch.records += 1;
    batch.bytes += bytes;
    if (!this.batchLines || batch.bytes >= MAX_BATCH_BYTES) return this.handOver();
    if (!this.handOverScheduled) {
      // Right after the callback that wrote them, not at the end of the turn: a hook that then blocks the loop
      // (until the tap ends the worker) must not keep finished records from the disk.
      this.handOverScheduled = true;
      queueMicrotask(this.scheduledHandOver);
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

  private readonly scheduledHandOver = (): void => {
    this.handOverScheduled = false;
    this.handOver();
  };

  private handOver(): void {
    const batch = this.open;
    if (!batch) return;
    this.open = undefined;
    this.unsettled.add(batch);
    this.logger.log({ level: 'info', message: batch.text, [kBatch]: batch });
  }

  /** Where winston's output lands: the writer's queue. */
  private toFile(batch: Batch): void {
    if (this.retryTimer) return this.settle(batch, 0, 'write_error');
    this.queue.push(batch);
    this.kick();
  }

  private kick(): void {
    // pump() catches what can fail; the catch is only so a fault of ours can never become an unhandled rejection.
    if (!this.pumping) this.pump().catch(() => {});
  }

  /** The one writer: writes, checks and reopens in order, one step at a time, until there is nothing to do. */
  private async pump(): Promise<void> {
    this.pumping = true;
    try {
      for (;;) {
        if (this.reopenRequested) await this.retireOpening();
        // Due checks come before more writes, or a steady stream would never let written lines settle.
        else if (this.unverified.length > 0 && this.verifyRequested) await this.verify();
        else if (this.queue.length > 0) await this.writeNext();
        else if (this.unverified.length > 0 && this.unverified.some((batch) => batch.onSettled)) await this.verify();
        else break;
      }
    } finally {
      this.pumping = false;
    }
    if (this.unverified.length > 0) this.scheduleVerify();
  }

  private async writeNext(): Promise<void> {
    if (this.retryTimer || this.closed) {
      for (const batch of this.queue.splice(0)) this.settle(batch, 0, this.closed ? 'closed' : 'write_error');
      return;
    }
    if (!this.opening) {
      try {
        this.opening = await openLogPath(this.path, this.stallMs);
      } catch (error) {
        return this.fail(error as NodeJS.ErrnoException);
      }
    }
    const opening = this.opening;
    const group = this.takeGroup();
    const prefix = this.tornTail ? NEWLINE : undefined;
    const result = await opening.write(prefix ? [prefix, ...group.map((batch) => batch.buffer!)] : group.map((batch) => batch.buffer!), this.stallMs);
    const ownWritten = result.written - (prefix ? Math.min(result.written, prefix.length) : 0);
    if (prefix && result.written > 0) this.tornTail = false;
    if (!result.error) {
      for (const batch of group) this.unverified.push(batch);
      this.unverifiedBytes += group.reduce((sum, batch) => sum + batch.bytes, 0);
      if (this.unverifiedBytes >= this.verifyBytes) this.verifyRequested = true;
      if (this.failing) this.recovered();
      return;
    }
    await this.writeFailed(opening, group, ownWritten, result.error);
  }

  /** The next batches to write, as bytes. */
  private takeGroup(): Batch[] {
    const group: Batch[] = [];
    let bytes = 0;
    while (this.queue.length > 0 && group.length < MAX_WRITE_BATCHES && (group.length === 0 || bytes + this.queue[0]!.bytes <= MAX_WRITE_BYTES)) {
      const batch = this.queue.shift()!;
      batch.buffer ??= Buffer.from(batch.text);
      batch.text = '';
      bytes += batch.buffer.length;
      group.push(batch);
    }
    return group;
  }

  /**
   * A write that stopped after `written` bytes of `group`: whole lines that reached the file count as written (unless
   * the file turns out deleted), the line cut in two is cut off the file, the rest is dropped; then the path is
   * retried with backoff.
   */
  private async writeFailed(opening: LogOpening, group: Batch[], written: number, error: NodeJS.ErrnoException): Promise<void> {
    const landed = new Map<Batch, number>();
    let offset = 0;
    for (const batch of group) {
      const length = batch.buffer!.length;
      if (offset >= written) break;
      const head = batch.buffer!.subarray(0, Math.min(length, written - offset));
      landed.set(batch, countNewlines(head));
      const fragment = head.subarray(head.lastIndexOf(0x0a) + 1);
      if (fragment.length > 0 && !(await opening.repairTail(fragment, this.path))) this.tornTail = true;
      offset += length;
    }
    const lost = (await opening.identity(this.path)) === 'deleted';
    for (const batch of this.takeUnverified()) this.settle(batch, lost ? 0 : batch.records, 'write_error');
    for (const batch of group) this.settle(batch, lost ? 0 : (landed.get(batch) ?? 0), 'write_error');
    this.fail(error);
  }

  /** Settles the written lines once the path is known to still name their file; lines in a deleted file are written again. */
  private async verify(): Promise<void> {
    this.verifyRequested = false;
    clearTimeout(this.verifyTimer);
    this.verifyTimer = undefined;
    const opening = this.opening;
    const batches = this.takeUnverified();
    const identity = opening ? await opening.identity(this.path) : 'same';
    if (identity === 'deleted') {
      void this.closeOpening(opening);
      for (const batch of batches.reverse()) {
        if (++batch.attempts >= MAX_ATTEMPTS) this.settle(batch, 0, 'write_error');
        else this.queue.unshift(batch);
      }
      return;
    }
    for (const batch of batches) this.settle(batch, batch.records);
    // Moved away (rotated without a reopen): its lines are in the moved file; new ones go to the path.
    if (identity === 'moved') void this.closeOpening(opening);
  }

  private async retireOpening(): Promise<void> {
    this.reopenRequested = false;
    if (this.unverified.length > 0) await this.verify();
    await this.closeOpening(this.opening);
  }

  private closeOpening(opening: LogOpening | undefined): Promise<void> {
    if (!opening) return Promise.resolve();
    if (this.opening === opening) this.opening = undefined;
    return opening.close();
  }

  private takeUnverified(): Batch[] {
    const batches = this.unverified;
    this.unverified = [];
    this.unverifiedBytes = 0;
    return batches;
  }

  private scheduleVerify(): void {
    if (this.verifyTimer) return;
    this.verifyTimer = setTimeout(() => {
      this.verifyTimer = undefined;
      this.verifyRequested = true;
      this.kick();
    }, this.verifyIntervalMs);
    this.verifyTimer.unref();
  }

  /** Settles a batch: `writtenRecords` of its lines reached the file, the others are dropped as `droppedAs`. */
  private settle(batch: Batch, writtenRecords: number, droppedAs?: string): void {
    if (batch.settled) return;
    batch.settled = true;
    batch.buffer = undefined;
    this.unsettled.delete(batch);
    this.pendingBytes -= batch.bytes;
    this.written += writtenRecords;
    if (droppedAs && batch.records > writtenRecords) this.drop(droppedAs, batch.records - writtenRecords);
    for (const resolve of batch.onSettled ?? []) resolve();
  }

  /** The path cannot be opened or written: what waits is dropped, and the path is tried again after a backoff. */
  private fail(error: NodeJS.ErrnoException): void {
    void this.closeOpening(this.opening);
    this.scheduleRetry();
    for (const batch of this.queue.splice(0)) this.settle(batch, 0, 'write_error');
    if (this.failing) return;
    this.failing = true;
    const code = error.code ?? error.name;
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
   * After rotation: what is being written goes to the renamed file; the lines after it open the path again. (A
   * rotation without reopen() is noticed too, at the next check of the written lines.)
   */
  reopen(): void {
    // An operator reopening is also the moment to try a failing path again.
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.reopenRequested = true;
    this.kick();
  }

  /** Resolves once every line accepted so far has been written (and checked) or dropped. */
  flush(): Promise<void> {
    this.handOver();
    const waiting = [...this.unsettled];
    if (waiting.length === 0) return Promise.resolve();
    const flushed = new Promise<void>((resolve) => {
      let left = waiting.length;
      const settledOne = () => {
        if (--left === 0) resolve();
      };
      for (const batch of waiting) (batch.onSettled ??= []).push(settledOne);
    });
    // Written lines that someone waits for are checked at once.
    this.kick();
    return flushed;
  }

  /** Flushes, then closes the file. The caller bounds the wait; past it the writes go on without anyone waiting. */
  async shutdown(): Promise<void> {
    await this.flush();
    this.closed = true;
    clearTimeout(this.retryTimer);
    clearTimeout(this.verifyTimer);
    this.logger.end();
    await this.closeOpening(this.opening);
  }

  stats(): SinkStats {
    return { written: this.written, dropped: { ...this.dropped }, pendingBytes: this.pendingBytes, failing: this.failing };
  }
}

function countNewlines(bytes: Buffer): number {
  let count = 0;
  for (let at = bytes.indexOf(0x0a); at !== -1; at = bytes.indexOf(0x0a, at + 1)) count++;
  return count;
}
