/**
 * Lines written in the same tick become one batch and one winston call (a batch is handed over early once
 * `MAX_BATCH_BYTES` big). winston runs in object mode over a stream of ours: the text is ours, serialised once, and
 * the batch reaches the writer untouched, so the writer knows exactly which lines each write carried.
 */
import { Writable } from 'node:stream';
import winston from 'winston';
import type { Batch, LineLedger } from './log-ledger.js';
import type { LogWriter } from './log-writer.js';

/** A batch is handed over early once this big, so one tick's burst never becomes one huge string. */
const MAX_BATCH_BYTES = 65_536;
const kBatch = Symbol('express-shadow.batch');

export class LineBatcher {
  readonly #ledger: LineLedger;
  /** False hands each line over on its own (exists to measure batching). */
  readonly #batchLines: boolean;
  readonly #logger: winston.Logger;
  #open: Batch | undefined;
  #handOverScheduled = false;

  constructor(ledger: LineLedger, writer: LogWriter, batchLines: boolean) {
    this.#ledger = ledger;
    this.#batchLines = batchLines;
    this.#logger = createLogger(writer);
  }

  /** Adds one accepted line (without its newline; JSON has none inside) of `bytes` bytes, newline included. */
  append(line: string, bytes: number): void {
    const batch = (this.#open ??= { lines: [], buffer: undefined, records: 0, bytes: 0, attempts: 0, settled: false, onSettled: undefined });
    batch.lines.push(line);
    batch.records += 1;
    batch.bytes += bytes;
    if (!this.#batchLines || batch.bytes >= MAX_BATCH_BYTES) return this.handOver();
    if (!this.#handOverScheduled) {
      // Right after the callback that wrote them, not at the end of the turn: a hook that then blocks the loop
      // (until the tap ends the worker) must not keep finished records from the disk.
      this.#handOverScheduled = true;
      queueMicrotask(this.#scheduledHandOver);
    }
  }

  /** Hands the open batch, if any, to winston. */
  handOver(): void {
    const batch = this.#open;
    if (!batch) return;
    this.#open = undefined;
    this.#ledger.track(batch);
    this.#logger.log({ level: 'info', message: '', [kBatch]: batch });
  }

  end(): void {
    this.#logger.end();
  }

  readonly #scheduledHandOver = (): void => {
    this.#handOverScheduled = false;
    this.handOver();
  };
}

/** winston in object mode over a stream of ours: the line is ours, serialised once, and reaches the writer untouched. */
function createLogger(writer: LogWriter): winston.Logger {
  const toFile = new Writable({
    objectMode: true,
    write: (info: { [kBatch]?: Batch }, _encoding, done) => {
      const batch = info[kBatch];
      if (batch) writer.enqueue(batch);
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
