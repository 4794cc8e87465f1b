/**
 * The hand-off: one narrow interface between a tap and its engine, with two implementations. The worker link
 * posts each exchange to the process's one engine worker (its byte arrays transferred, not copied); the in-thread
 * link calls the same engine code directly, for hooks that cannot cross threads.
 */
import { Worker } from 'node:worker_threads';
import type { ResolvedOptions } from '../options.js';
import type { BreakerState } from '../types.js';
import type { EngineEvent, Exchange, SkippedExchange, TapPeriod } from '../engine/exchange.js';
import { EngineHost } from '../engine/host.js';
import type { EngineStats } from '../engine/pipeline.js';
import type { FeedbackItem, FromEngine, ToEngine } from '../engine/protocol.js';

/** What the engine tells a tap. */
export interface TapFeedback {
  /** `count` exchanges are done with; `bytes` of the tap's budget are free again. */
  settled(count: number, bytes: number): void;
  breaker(target: string, state: BreakerState, reopensAt: number): void;
  event(event: EngineEvent): void;
  /** The engine went away with exchanges in hand (a crashed worker): they are lost, their bytes free. */
  lost(reason: string): void;
}

export interface EngineLink {
  readonly mode: 'worker' | 'in-thread';
  /** False after the worker crashed, until the next hand-off starts a new one. */
  readonly available: boolean;
  handOff(exchange: Exchange, transfer: ArrayBuffer[]): void;
  skip(skipped: SkippedExchange): void;
  summary(period: TapPeriod): void;
  /** The engine's side of `stats()`: live in-thread, the latest snapshot from a worker. */
  stats(): EngineStats | undefined;
  /** Resolves once the engine has nothing in hand for this instance and its records reached the log. */
  whenIdle(): Promise<void>;
  /** Drains, writes the last summary (with the tap's last period), flushes and lets go of the log. */
  close(timeoutMs: number, lastPeriod: TapPeriod): Promise<void>;
  reopen(): void;
  wantEvents(on: boolean): void;
}

/** The engine in the app's own thread: same code, no copies, and the cost on the app's event loop. */
export function inThreadLink(config: ResolvedOptions, tap: TapFeedback): EngineLink {
  const host = new EngineHost();
  let eventsOn = false;
  host.register(0, config, {
    settled: (bytes) => tap.settled(1, bytes),
    breaker: (target, state, reopensAt) => tap.breaker(target, state, reopensAt),
    event: (event) => {
      if (eventsOn) tap.event(event);
    },
  });
  return {
    mode: 'in-thread',
    available: true,
    handOff: (exchange) => host.accept(0, exchange),
    skip: (skipped) => host.skip(0, skipped),
    summary: (period) => host.writeSummary(0, period),
    stats: () => host.stats(0),
    whenIdle: () => host.whenIdle(0),
    close: async (timeoutMs, lastPeriod) => {
      await host.close(0, timeoutMs, lastPeriod);
    },
    reopen: () => host.reopen(),
    wantEvents: (on) => {
      eventsOn = on;
    },
  };
}

interface Member {
  options: Record<string, unknown>;
  tap: TapFeedback;
  events: boolean;
  stats: EngineStats | undefined;
  /** Exchanges posted and not yet settled: while any are out, the worker keeps the process alive. */
  outstanding: number;
  registered: boolean;
}

/** The process's one engine worker, started on first use and again after a crash. */
class EngineWorker {
  #worker: Worker | undefined;
  readonly #members = new Map<number, Member>();
  #nextId = 1;
  #seq = 0;
  readonly #replies = new Map<number, { resolve: () => void; reject: (error: Error) => void }>();
  #outstanding = 0;

  join(options: Record<string, unknown>, tap: TapFeedback): number {
    const id = this.#nextId++;
    this.#members.set(id, { options, tap, events: false, stats: undefined, outstanding: 0, registered: false });
    return id;
  }

  get running(): boolean {
    return this.#worker !== undefined;
  }

  member(id: number): Member | undefined {
    return this.#members.get(id);
  }

  /** Queues a message; everything queued in one turn of the app's event loop goes in one postMessage. */
  post(id: number, message: ToEngine, transfer: ArrayBuffer[] = []): void {
    const worker = this.#ensure(id);
    if (message.op === 'exchange') {
      const member = this.#members.get(id)!;
      member.outstanding++;
      if (this.#outstanding++ === 0) worker.ref();
    }
    this.#batch.push(message);
    for (const buffer of transfer) this.#transfer.push(buffer);
    if (this.#batch.length === 1) setImmediate(this.#flush);
  }

  #batch: ToEngine[] = [];
  #transfer: ArrayBuffer[] = [];
  readonly #flush = (): void => {
    const batch = this.#batch;
    const transfer = this.#transfer;
    this.#batch = [];
    this.#transfer = [];
    if (batch.length === 0 || !this.#worker) return;
    this.#worker.postMessage({ op: 'batch', messages: batch } satisfies ToEngine, transfer);
  };

  request(id: number, message: { op: 'idle' } | { op: 'close'; timeoutMs: number; period: TapPeriod }): Promise<void> {
    if (!this.#worker) return Promise.resolve();
    const seq = ++this.#seq;
    const reply = new Promise<void>((resolve, reject) => this.#replies.set(seq, { resolve, reject }));
    this.#flush();
    this.#worker.postMessage({ ...message, id, seq } satisfies ToEngine);
    return reply;
  }

  async leave(id: number, timeoutMs: number, lastPeriod: TapPeriod, keepStats: (stats: EngineStats | undefined) => void): Promise<void> {
    const member = this.#members.get(id);
    if (!member) return;
    // A tap that never handed anything off still has its summary to write.
    if (lastPeriod.seen > 0 || lastPeriod.shed > 0) this.#ensure(id);
    if (this.#worker && member.registered) await this.request(id, { op: 'close', timeoutMs, period: lastPeriod }).catch(() => {});
    keepStats(member.stats);
    this.#members.delete(id);
    if (this.#members.size === 0 && this.#worker) {
      // The last instance closed: the worker finishes writing what its log still holds (a stuck disk had
      // close()'s timeout), then ends on its own; it never keeps the process alive. A new instance starts a new one.
      const worker = this.#worker;
      this.#flush();
      this.#worker = undefined;
      worker.postMessage({ op: 'retire' } satisfies ToEngine);
      worker.unref();
    }
  }

  reopen(): void {
    this.#flush();
    this.#worker?.postMessage({ op: 'reopen' } satisfies ToEngine);
  }

  #ensure(id: number): Worker {
    const worker = this.#worker ?? this.#start();
    const member = this.#members.get(id);
    if (member && !member.registered) {
      member.registered = true;
      const seq = ++this.#seq;
      this.#replies.set(seq, { resolve: () => {}, reject: (error) => member.tap.lost(`the engine could not start this instance: ${error.message}`) });
      this.#flush();
      worker.postMessage({ op: 'register', id, seq, options: member.options, events: member.events } satisfies ToEngine);
    }
    return worker;
  }

  #start(): Worker {
    const worker = startWorker();
    worker.unref();
    this.#worker = worker;
    this.#outstanding = 0;
    worker.on('message', (message: FromEngine) => this.#receive(message));
    worker.on('error', (error) => this.#crashed(worker, error.message));
    worker.on('exit', (code) => this.#crashed(worker, `the engine worker exited with code ${code}`));
    return worker;
  }

  #receive(message: FromEngine): void {
    if (message.op === 'drained') {
      if (this.#outstanding === 0) this.#worker?.unref();
      return;
    }
    if (message.op === 'reply') {
      const waiter = this.#replies.get(message.seq);
      this.#replies.delete(message.seq);
      if (message.error) waiter?.reject(new Error(message.error));
      else waiter?.resolve();
      return;
    }
    for (const item of message.items) this.#apply(item);
  }

  #apply(item: FeedbackItem): void {
    const member = this.#members.get(item.id);
    if (!member) return;
    if (item.stats) member.stats = item.stats;
    for (const [target, state, reopensAt] of item.breakers ?? []) member.tap.breaker(target, state, reopensAt);
    for (const event of item.events ?? []) member.tap.event(event);
    if (item.settled > 0) {
      member.outstanding -= item.settled;
      // The worker is unref'd once it reports its logs written ('drained'), not here.
      this.#outstanding = Math.max(0, this.#outstanding - item.settled);
      member.tap.settled(item.settled, item.settledBytes);
    }
  }

  #crashed(worker: Worker, reason: string): void {
    if (this.#worker !== worker) return;
    this.#worker = undefined;
    for (const member of this.#members.values()) {
      member.registered = false;
      member.outstanding = 0;
      member.tap.lost(reason);
    }
    for (const waiter of this.#replies.values()) waiter.reject(new Error(reason));
    this.#replies.clear();
  }
}

let shared: EngineWorker | undefined;

/** The engine on the process's shared worker thread. */
export function workerLink(options: Record<string, unknown>, tap: TapFeedback): EngineLink {
  shared ??= new EngineWorker();
  const engine = shared;
  const id = engine.join(options, tap);
  let available = true;
  /** The last snapshot outlives the instance's membership, so stats() after close() still tells the end state. */
  let finalStats: EngineStats | undefined;
  engine.member(id)!.tap = {
    settled: (count, bytes) => tap.settled(count, bytes),
    breaker: (target, state, reopensAt) => tap.breaker(target, state, reopensAt),
    event: (event) => tap.event(event),
    lost: (reason) => {
      available = false;
      tap.lost(reason);
    },
  };
  return {
    mode: 'worker',
    get available() {
      return available;
    },
    handOff(exchange, transfer) {
      available = true;
      engine.post(id, { op: 'exchange', id, exchange }, transfer);
    },
    skip: (skipped) => engine.post(id, { op: 'skip', id, skipped }),
    summary: (period) => {
      if (engine.running) engine.post(id, { op: 'summary', id, period });
    },
    stats: () => engine.member(id)?.stats ?? finalStats,
    whenIdle: () => (engine.member(id)?.registered ? engine.request(id, { op: 'idle' }).catch(() => {}) : Promise.resolve()),
    close: async (timeoutMs, lastPeriod) => {
      await engine.leave(id, timeoutMs, lastPeriod, (stats) => (finalStats = stats));
    },
    reopen: () => engine.reopen(),
    wantEvents(on) {
      const member = engine.member(id);
      if (!member) return;
      member.events = on;
      if (member.registered) engine.post(id, { op: 'events', id, on });
    },
  };
}

/**
 * The engine worker. Tests run the TypeScript sources; the worker is then the `.ts` file, loaded through tsx
 * (a dev dependency), registered inside the worker because Node 20 takes no `--import` in a worker's execArgv.
 */
function startWorker(): Worker {
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL('../engine/worker.js', import.meta.url));
  const source = JSON.stringify(new URL('../engine/worker.ts', import.meta.url).href);
  return new Worker(`import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${source}); })`, { eval: true });
}
