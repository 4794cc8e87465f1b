/**
 * The one writer of a log file: takes the batches winston hands over, writes them in order through a `LogOpening`
 * (log-opening.ts, the I/O edge), checks that the path still names the file written to, and reopens the path after
 * a rotation or a failure, one step at a time, until there is nothing left to do.
 */
import { openLogPath, type LogOpening } from './log-opening.js';
import type { Batch, LineLedger } from './log-ledger.js';
import type { RetryBackoff } from './log-backoff.js';
import { UncheckedLines } from './log-checks.js';
import { WARNING_CODE } from './sink-types.js';

/** Lines taken from the queue for one write: up to this many bytes, and this many batches (one iovec each). */
const MAX_WRITE_BYTES = 1_048_576;
const MAX_WRITE_BATCHES = 512;
/** Lines written again after their file was found deleted, at most this many times. */
const MAX_ATTEMPTS = 3;
const NEWLINE = Buffer.from('\n');

export interface LogWriterOptions {
  stallMs: number;
  verifyIntervalMs: number;
  /** Unchecked bytes past which lines are checked at once rather than at the next interval. */
  verifyBytes: number;
}

export class LogWriter {
  readonly #path: string;
  readonly #stallMs: number;
  readonly #ledger: LineLedger;
  readonly #backoff: RetryBackoff;
  /** Written to `#opening` and not yet checked. */
  readonly #unchecked: UncheckedLines;
  /** Batches handed over by winston, waiting to be written. */
  readonly #queue: Batch[] = [];
  #opening: LogOpening | undefined;
  #pumping = false;
  #reopenRequested = false;
  /** A line was left unfinished where it could not be cut off: the next write starts by ending it. */
  #tornTail = false;
  #closed = false;

  constructor(path: string, options: LogWriterOptions, ledger: LineLedger, backoff: RetryBackoff) {
    this.#path = path;
    this.#stallMs = options.stallMs;
    this.#ledger = ledger;
    this.#backoff = backoff;
    this.#unchecked = new UncheckedLines(options.verifyIntervalMs, options.verifyBytes, () => this.kick());
  }

  /** Where winston's output lands. */
  enqueue(batch: Batch): void {
    if (this.#backoff.timer) return this.#ledger.settle(batch, 0, 'write_error');
    this.#queue.push(batch);
    this.kick();
  }

  kick(): void {
    // pump() catches what can fail; the catch is only so a fault of ours can never become an unhandled rejection.
    if (!this.#pumping) this.#pump().catch(() => {});
  }

  /**
   * After rotation: what is being written goes to the renamed file; the lines after it open the path again. (A
   * rotation without reopen() is noticed too, at the next check of the written lines.)
   */
  reopen(): void {
    // An operator reopening is also the moment to try a failing path again.
    this.#backoff.retryNow();
    this.#reopenRequested = true;
    this.kick();
  }

  /** Stops now (batches still handed over are dropped as `closed`); resolves once the file is closed. */
  close(): Promise<void> {
    this.#closed = true;
    this.#backoff.stop();
    this.#unchecked.stop();
    return this.#closeOpening(this.#opening);
  }

  /** Writes, checks and reopens in order, one step at a time, until there is nothing to do. */
  async #pump(): Promise<void> {
    this.#pumping = true;
    const unchecked = this.#unchecked;
    try {
      for (;;) {
        if (this.#reopenRequested) await this.#retireOpening();
        // Due checks come before more writes, or a steady stream would never let written lines settle.
        else if (unchecked.batches.length > 0 && unchecked.due) await this.#verify();
        else if (this.#queue.length > 0) await this.#writeNext();
        else if (unchecked.batches.length > 0 && unchecked.awaited()) await this.#verify();
        else break;
      }
    } finally {
      this.#pumping = false;
    }
    if (unchecked.batches.length > 0) unchecked.schedule();
  }

  async #writeNext(): Promise<void> {
    if (this.#backoff.timer || this.#closed) {
      for (const batch of this.#queue.splice(0)) this.#ledger.settle(batch, 0, this.#closed ? 'closed' : 'write_error');
      return;
    }
    if (!this.#opening) {
      try {
        this.#opening = await openLogPath(this.#path, this.#stallMs);
      } catch (error) {
        return this.#fail(error as NodeJS.ErrnoException);
      }
    }
    const opening = this.#opening;
    const group = this.#takeGroup();
    const prefix = this.#tornTail ? NEWLINE : undefined;
    const result = await opening.write(prefix ? [prefix, ...group.map((batch) => batch.buffer!)] : group.map((batch) => batch.buffer!), this.#stallMs);
    const ownWritten = result.written - (prefix ? Math.min(result.written, prefix.length) : 0);
    if (prefix && result.written > 0) this.#tornTail = false;
    if (!result.error) {
      this.#unchecked.add(group);
      if (this.#backoff.failing) this.#backoff.recovered();
      return;
    }
    await this.#writeFailed(opening, group, ownWritten, result.error);
  }

  /** The next batches to write, as bytes. */
  #takeGroup(): Batch[] {
    const queue = this.#queue;
    const group: Batch[] = [];
    let bytes = 0;
    while (queue.length > 0 && group.length < MAX_WRITE_BATCHES && (group.length === 0 || bytes + queue[0]!.bytes <= MAX_WRITE_BYTES)) {
      const batch = queue.shift()!;
      bytes += batch.buffer!.length;
      group.push(batch);
    }
    return group;
  }

  /**
   * A write that stopped after `written` bytes of `group`: whole lines that reached the file count as written (unless
   * the file turns out deleted), the line cut in two is cut off the file, the rest is dropped; then the path is
   * retried with backoff.
   */
  async #writeFailed(opening: LogOpening, group: Batch[], written: number, error: NodeJS.ErrnoException): Promise<void> {
    const landed = new Map<Batch, number>();
    let offset = 0;
    for (const batch of group) {
      const length = batch.buffer!.length;
      if (offset >= written) break;
      const head = batch.buffer!.subarray(0, Math.min(length, written - offset));
      landed.set(batch, countNewlines(head));
      const fragment = head.subarray(head.lastIndexOf(0x0a) + 1);
      if (fragment.length > 0 && !(await opening.repairTail(fragment, this.#path))) this.#tornTail = true;
      offset += length;
    }
    const lost = (await opening.identity(this.#path)) === 'deleted';
    for (const batch of this.#unchecked.take()) this.#ledger.settle(batch, lost ? 0 : batch.records, 'write_error');
    for (const batch of group) this.#ledger.settle(batch, lost ? 0 : (landed.get(batch) ?? 0), 'write_error');
    this.#fail(error);
  }

  /** Settles the written lines once the path is known to still name their file; lines in a deleted file are written again. */
  async #verify(): Promise<void> {
    const opening = this.#opening;
    const batches = this.#unchecked.takeForCheck();
    const identity = opening ? await opening.identity(this.#path) : 'same';
    if (identity === 'deleted') {
      void this.#closeOpening(opening);
      for (const batch of batches.reverse()) {
        if (++batch.attempts >= MAX_ATTEMPTS) this.#ledger.settle(batch, 0, 'write_error');
        else this.#queue.unshift(batch);
      }
      return;
    }
    for (const batch of batches) this.#ledger.settle(batch, batch.records);
    // Moved away (rotated without a reopen): its lines are in the moved file; new ones go to the path.
    if (identity === 'moved') void this.#closeOpening(opening);
  }

  async #retireOpening(): Promise<void> {
    this.#reopenRequested = false;
    if (this.#unchecked.batches.length > 0) await this.#verify();
    await this.#closeOpening(this.#opening);
  }

  #closeOpening(opening: LogOpening | undefined): Promise<void> {
    if (!opening) return Promise.resolve();
    if (this.#opening === opening) this.#opening = undefined;
    return opening.close();
  }

  /** The path cannot be opened or written: what waits is dropped, and the path is tried again after a backoff. */
  #fail(error: NodeJS.ErrnoException): void {
    void this.#closeOpening(this.#opening);
    const first = this.#backoff.failed();
    for (const batch of this.#queue.splice(0)) this.#ledger.settle(batch, 0, 'write_error');
    if (!first) return;
    const code = error.code ?? error.name;
    process.emitWarning(
      `express-shadow: cannot write the log file ${this.#path} (${code}: ${error.message}); records are dropped and counted in stats().log.dropped.write_error until the file can be written again (retried with backoff)`,
      { code: WARNING_CODE },
    );
  }
}

function countNewlines(bytes: Buffer): number {
  let count = 0;
  for (let at = bytes.indexOf(0x0a); at !== -1; at = bytes.indexOf(0x0a, at + 1)) count++;
  return count;
}
