/**
 * Lines written within `GATHER_MS` of the first become one batch, one winston call and one write (a batch is handed
 * over early once `SLAB_BYTES` big, or when `handOver()` is called: a flush, a close, a reopen, a user's hook about to
 * run). Each line is encoded at once into a slab of bytes shared by the batches that follow, so its string dies young:
 * kept as strings until written, the lines outlived two scavenges and were promoted (the engine alone, 10,000
 * exchanges: 36.3 MB promoted with strings, 13.6 MB with slabs). winston runs in object mode over a stream of ours: the
 * text is ours, serialised once, and the batch reaches the writer untouched, so the writer knows exactly which lines
 * each write carried.
 */
import { Writable } from 'node:stream';
import winston from 'winston';
import type { Batch, LineLedger } from './log-ledger.js';
import type { LogWriter } from './log-writer.js';

/** Bytes per slab, and so at most per batch (but a longer line, which gets a buffer of its own). */
const SLAB_BYTES = 65_536;
/**
 * How long the first line of a batch waits for more. Handed over at the end of each slice of the engine's work
 * instead, batches came about one per mirrored request at saturation, each a winston call, a promise, a hop to libuv's
 * threadpool and back and a syscall: gathered, the engine alone spends 10–25 µs less per exchange (its file writes for
 * 2,500 exchanges: 875 → 211). The timer is not unref'd: the last lines keep a process that is ending alive for at
 * most this long.
 */
const GATHER_MS = 10;
const kBatch = Symbol('express-shadow.batch');

export class LineBatcher {
  readonly #ledger: LineLedger;
  /** False hands each line over on its own (exists to measure batching). */
  readonly #batchLines: boolean;
  readonly #logger: winston.Logger;
  /** Where lines are encoded: the open batch is `#slab[#start, #used)`. */
  #slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
  #start = 0;
  #used = 0;
  #open: Batch | undefined;
  #gatherTimer: NodeJS.Timeout | undefined;

  constructor(ledger: LineLedger, writer: LogWriter, batchLines: boolean) {
    this.#ledger = ledger;
    this.#batchLines = batchLines;
    this.#logger = createLogger(writer);
  }

  /** Adds one accepted line (without its newline; JSON has none inside) of `bytes` bytes, newline included. */
  append(line: string, bytes: number): void {
    if (this.#used + bytes > this.#slab.length) {
      // A batch lies in one slab: the open one goes, and the line starts a new slab (its own, when longer).
      this.handOver();
      this.#slab = Buffer.allocUnsafeSlow(Math.max(SLAB_BYTES, bytes));
      this.#start = this.#used = 0;
    }
    const batch = (this.#open ??= { buffer: undefined, records: 0, bytes: 0, attempts: 0, settled: false, onSettled: undefined });
    const slab = this.#slab;
    this.#used += slab.write(line, this.#used);
    slab[this.#used++] = 0x0a;
    batch.records += 1;
    batch.bytes += bytes;
    if (!this.#batchLines) return this.handOver();
    this.#gatherTimer ??= setTimeout(this.#gathered, GATHER_MS);
  }

  /** Hands the open batch, if any, to winston. */
  handOver(): void {
    if (this.#gatherTimer) {
      clearTimeout(this.#gatherTimer);
      this.#gatherTimer = undefined;
    }
    const batch = this.#open;
    if (!batch) return;
    this.#open = undefined;
    batch.buffer = this.#slab.subarray(this.#start, this.#used);
    this.#start = this.#used;
    this.#ledger.track(batch);
    this.#logger.log({ level: 'info', message: '', [kBatch]: batch });
  }

  end(): void {
    this.handOver();
    this.#logger.end();
  }

  readonly #gathered = (): void => {
    this.#gatherTimer = undefined;
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
