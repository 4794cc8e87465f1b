/**
 * What goes to the engine's worker. Everything queued in one turn of the app's loop goes in one postMessage, once
 * the worker is ready (until then it waits here). Exchanges whose bytes stay ours (not transferred) are kept until
 * the worker has taken them in, so that should it end first they go to the next worker.
 */
import type { Worker } from 'node:worker_threads';
import type { Exchange } from '../engine/exchange.js';
import type { ToEngine } from '../engine/protocol.js';
import type { HookWatch } from './hook-watch.js';

/** An operation of the engine interface, as posted. */
type Call = Extract<ToEngine, { op: 'call' }>;

export class Outbox {
  /** The ready worker to post to; undefined while none is (what is queued then waits). */
  worker: Worker | undefined;
  #batch: ToEngine[] = [];
  #transfer: ArrayBuffer[] = [];
  #flushScheduled = false;
  /** Exchanges by number, kept until the worker has taken them in (only those whose bytes were not transferred). */
  readonly #unstarted = new Map<number, Call>();
  #nextExchange = 1;
  /** The highest exchange number in a postMessage so far. */
  #postedUpTo = 0;

  constructor(private readonly hookWatch: HookWatch) {}

  queue(message: ToEngine, transfer?: ArrayBuffer[]): void {
    this.#batch.push(message);
    if (transfer) for (const buffer of transfer) this.#transfer.push(buffer);
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(this.flush);
    }
  }

  /** An exchange, numbered so the worker can say which it took in. Inlines `queue`: it runs once per request. */
  queueExchange(id: number, exchange: Exchange, transfer: ArrayBuffer[] | undefined): void {
    const message: Call = { op: 'call', id, method: 'accept', args: [exchange], n: this.#nextExchange++ };
    // Bytes that stay ours (not transferred) let the exchange go to the next worker should this one end first.
    if (!transfer || transfer.length === 0) this.#unstarted.set(message.n!, message);
    else for (const buffer of transfer) this.#transfer.push(buffer);
    this.#batch.push(message);
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(this.flush);
    }
  }

  /** Sends what this turn queued to the ready worker. */
  readonly flush = (): void => {
    this.#flushScheduled = false;
    if (!this.worker || this.#batch.length === 0) return;
    const batch = this.#batch;
    const transfer = this.#transfer;
    this.#batch = [];
    this.#transfer = [];
    this.worker.postMessage(batch, transfer);
    this.#postedUpTo = this.#nextExchange - 1;
    this.#forgetTakenIn();
  };

  /** What waits to be posted, taken out (no worker will take it: it goes to the next one, or to local engines). */
  takeQueued(): ToEngine[] {
    const queued = this.#batch;
    this.#batch = [];
    this.#transfer = [];
    return queued;
  }

  /** After the worker ended: the exchanges it was posted and never took in, in order. The rest are forgotten. */
  takeNotTakenIn(): Call[] {
    const takenIn = this.hookWatch.takenInUpTo(this.#postedUpTo);
    const resend = [...this.#unstarted.values()].filter((message) => message.n! > takenIn && message.n! <= this.#postedUpTo);
    this.#unstarted.clear();
    return resend;
  }

  /** Exchanges the worker has taken in need no keeping. */
  #forgetTakenIn(): void {
    if (!this.hookWatch.clock || this.#unstarted.size === 0) return;
    const upTo = this.hookWatch.takenInUpTo(0);
    for (const n of this.#unstarted.keys()) {
      if (n > upTo) break;
      this.#unstarted.delete(n);
    }
  }
}
