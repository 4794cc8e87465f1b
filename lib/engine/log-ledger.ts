/**
 * The accounting of a log file's lines. Every accepted line is pending until its batch is settled, once, as written
 * or as dropped (counted by reason): `pendingBytes` is what bounds memory, and the set of unsettled batches is what
 * makes `flush()` exact.
 */
import type { SinkStats } from '../types.js';
import { BACKPRESSURE_WARNING_CODE } from './sink-types.js';

/** Lines handed over together; settled once, as written or as dropped. */
export interface Batch {
  /** The lines as bytes, each with its newline, from the hand-over until they are settled (they may be written again). */
  buffer: Buffer | undefined;
  records: number;
  bytes: number;
  /** Times written to a file that was then found deleted. */
  attempts: number;
  settled: boolean;
  onSettled: (() => void)[] | undefined;
}

export class LineLedger {
  /** Bytes of lines accepted and not yet settled. */
  pendingBytes = 0;
  /** Records are being dropped for backpressure; ends (and may warn again) once the backlog has halved. */
  overloaded = false;
  readonly #unsettled = new Set<Batch>();
  #written = 0;
  readonly #dropped: Record<string, number> = {};

  constructor(
    readonly path: string,
    /** Past this many bytes pending, records are dropped (`backpressure`). */
    readonly maxPendingBytes: number,
  ) {}

  drop(reason: string, records = 1): void {
    this.#dropped[reason] = (this.#dropped[reason] ?? 0) + records;
  }

  dropForBackpressure(): void {
    this.drop('backpressure');
    if (this.overloaded) return;
    // One warning per overload: it ends once the backlog has halved, so a sink at the edge does not warn per record.
    this.overloaded = true;
    process.emitWarning(
      `express-shadow: the log file ${this.path} cannot keep up; records are dropped while more than ${this.maxPendingBytes} bytes wait to be written (counted in stats().log.dropped.backpressure)`,
      { code: BACKPRESSURE_WARNING_CODE },
    );
  }

  /** A batch handed over to be written: `flush()` waits for it until it is settled. */
  track(batch: Batch): void {
    this.#unsettled.add(batch);
  }

  /** Settles a batch: `writtenRecords` of its lines reached the file, the others are dropped as `droppedAs`. */
  settle(batch: Batch, writtenRecords: number, droppedAs?: string): void {
    if (batch.settled) return;
    batch.settled = true;
    batch.buffer = undefined;
    this.#unsettled.delete(batch);
    this.pendingBytes -= batch.bytes;
    this.#written += writtenRecords;
    if (droppedAs && batch.records > writtenRecords) this.drop(droppedAs, batch.records - writtenRecords);
    for (const resolve of batch.onSettled ?? []) resolve();
  }

  /** Resolves once every batch tracked so far is settled; `undefined` when none is waiting. */
  whenSettled(): Promise<void> | undefined {
    if (this.#unsettled.size === 0) return undefined;
    const waiting = [...this.#unsettled];
    return new Promise<void>((resolve) => {
      let left = waiting.length;
      const settledOne = () => {
        if (--left === 0) resolve();
      };
      for (const batch of waiting) (batch.onSettled ??= []).push(settledOne);
    });
  }

  stats(failing: boolean): SinkStats {
    return { written: this.#written, dropped: { ...this.#dropped }, pendingBytes: this.pendingBytes, failing };
  }
}
