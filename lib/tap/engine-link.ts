/**
 * The hand-off: one narrow interface between a tap and its engine, with two implementations of one engine (the
 * host, see engine/host.ts). The worker link posts each operation to the process's one engine worker (exchanges'
 * byte arrays transferred, not copied); the local link calls a host in this thread, for hooks that cannot cross
 * threads, and as the fallback when no worker can be started.
 */
import type { Worker } from 'node:worker_threads';
import { errorMessage } from '../errors.js';
import type { ResolvedOptions } from '../engine/config.js';
import type { Exchange, SkippedExchange, TapPeriod } from '../engine/exchange.js';
import { WATCHDOG_BYTES, clearHook, overdueHook, takenInUpTo } from '../engine/watchdog.js';
import { EngineHost } from '../engine/host.js';
import type { EngineStats } from '../engine/engine-counts.js';
import type { EngineCalls, EngineFeedback, EngineMethod, FeedbackItem, FromEngine, ToEngine } from '../engine/protocol.js';
import { startWorker } from './start-worker.js';

/** What the engine tells a tap. */
export interface TapFeedback {
  feedback(item: FeedbackItem, lagMs: number): void;
  /** The engine went away with `count` exchanges it had started (a crashed worker): they are lost, their `bytes` free. */
  lost(reason: string, count: number, bytes: number): void;
}

export interface EngineLink {
  readonly mode: 'worker' | 'in-thread';
  /** False after the worker crashed, until the next hand-off starts a new one; false for an engine that failed to set up. */
  readonly available: boolean;
  accept(exchange: Exchange, transfer: ArrayBuffer[]): void;
  skip(skipped: SkippedExchange): void;
  summary(period: TapPeriod): void;
  /** The engine's side of `stats()`: live in-thread, the latest snapshot from a worker. */
  stats(): EngineStats | undefined;
  /** Resolves once the engine has nothing in hand for this instance and its records reached the log. */
  whenIdle(): Promise<void>;
  /** Drains, writes the last summary (with the tap's last period), flushes and lets go of the log. Resolves within about `timeoutMs`. */
  close(timeoutMs: number, lastPeriod: TapPeriod): Promise<void>;
  reopen(): void;
  wantEvents(on: boolean): void;
}

/** The engine in the app's own thread: same host, no copies, and the cost on the app's event loop. */
export function localLink(options: ResolvedOptions | Record<string, unknown>, tap: TapFeedback, resolved: boolean): EngineLink {
  const host = new EngineHost((feedback) => deliver(feedback, () => tap), { immediate: true });
  let available = true;
  void host.register(0, options, false, resolved).then(() => (available = host.stats(0) !== undefined));
  const call = <M extends EngineMethod>(method: M, ...args: Parameters<EngineCalls[M]>) => host.call(0, method, args);
  return {
    mode: 'in-thread',
    get available() {
      return available;
    },
    accept: (exchange) => void call('accept', exchange),
    skip: (skipped) => void call('skip', skipped),
    summary: (period) => void call('summary', period),
    stats: () => host.stats(0),
    whenIdle: () => call('whenIdle'),
    close: (timeoutMs, lastPeriod) => call('close', timeoutMs, lastPeriod),
    reopen: () => host.reopen(),
    wantEvents: (on) => void call('events', on),
  };
}

function deliver(feedback: EngineFeedback, tapOf: (id: number) => TapFeedback | undefined): void {
  for (const item of feedback.items) {
    try {
      tapOf(item.id)?.feedback(item, feedback.lagMs);
    } catch {
      // A tap's bookkeeping must never stop the others'.
    }
  }
}

interface Member {
  options: Record<string, unknown>;
  tap: TapFeedback;
  events: boolean;
  /** Set once the worker has the instance's configuration. */
  registered: boolean;
  stats: EngineStats | undefined;
  /** After a fallback: this member's engine runs in the app's thread. */
  local: EngineLink | undefined;
  /** Exchanges posted and not settled, and the tap's bytes they hold. */
  outstanding: number;
  outstandingBytes: number;
}

/** An operation of the engine interface, as posted. */
type Call = Extract<ToEngine, { op: 'call' }>;

/** Past a close()'s timeout, this much longer for the worker's reply before it is taken as stuck and ended. */
const STUCK_GRACE_MS = 1000;
const HOOK_WATCH_EVERY_MS = 100;

/** The process's one engine worker, started on first use and again after a crash. */
class EngineWorker {
  #worker: Worker | undefined;
  #ready = false;
  /** Settles once the worker being started is ready, or has failed to start (and the members fell back). */
  #starting: { promise: Promise<void>; resolve: () => void } | undefined;
  /** Why no worker can run in this process: every instance then runs its engine in the app's thread. */
  failed: string | undefined;
  readonly #members = new Map<number, Member>();
  #nextId = 1;
  #seq = 0;
  readonly #replies = new Map<number, { resolve: () => void; reject: (error: Error) => void }>();
  /** Exchanges posted and not settled: while any are out, or a reply is awaited, the worker keeps the process alive. */
  #outstanding = 0;
  #batch: ToEngine[] = [];
  #transfer: ArrayBuffer[] = [];
  #flushScheduled = false;
  readonly #watchdog = typeof SharedArrayBuffer === 'function' ? new SharedArrayBuffer(WATCHDOG_BYTES) : undefined;
  #hookWatch: NodeJS.Timeout | undefined;
  /** Exchanges by number, kept until the worker has taken them in (only those whose bytes were not transferred). */
  readonly #unstarted = new Map<number, Call>();
  #nextExchange = 1;
  /** The highest exchange number in a postMessage so far. */
  #postedUpTo = 0;

  join(options: Record<string, unknown>, tap: TapFeedback): number {
    const id = this.#nextId++;
    this.#members.set(id, { options, tap, events: false, registered: false, stats: undefined, local: undefined, outstanding: 0, outstandingBytes: 0 });
    return id;
  }

  member(id: number): Member | undefined {
    return this.#members.get(id);
  }

  /** Queues an operation; everything queued in one turn of the app's loop goes in one postMessage. */
  call<M extends EngineMethod>(id: number, method: M, args: Parameters<EngineCalls[M]>, transfer?: ArrayBuffer[]): void {
    if (!this.#ensure(id)) {
      const local = this.#members.get(id)?.local;
      if (local) localCall(local, method, args);
      return;
    }
    if (method !== 'accept') return this.#queue({ op: 'call', id, method, args });
    const exchange = args[0] as Exchange;
    const member = this.#members.get(id)!;
    member.outstanding++;
    member.outstandingBytes += exchange.heldBytes;
    const message: Call = { op: 'call', id, method, args, n: this.#nextExchange++ };
    // Bytes that stay ours (not transferred) let the exchange go to the next worker should this one end first.
    if (!transfer || transfer.length === 0) this.#unstarted.set(message.n!, message);
    this.#queue(message, transfer);
    if (this.#outstanding++ === 0) this.#refresh();
  }

  /**
   * An operation the tap waits for. Never rejects; settles within `timeoutMs` (plus a grace) whatever the worker
   * does: `'ended'` when the worker went away first (its work may have gone to a new one).
   */
  request(id: number, method: 'whenIdle' | 'close', args: unknown[], timeoutMs: number): Promise<'replied' | 'ended' | 'timeout'> {
    if (!this.#worker) return Promise.resolve('ended');
    const seq = ++this.#seq;
    const worker = this.#worker;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        // No answer long past the deadline: the worker's thread is blocked. End it; what it had started is counted
        // as lost, what it had not goes to the next worker.
        this.#replies.delete(seq);
        if (this.#worker === worker) void worker.terminate();
        resolve('timeout');
      }, timeoutMs + STUCK_GRACE_MS);
      this.#replies.set(seq, {
        resolve: () => (clearTimeout(timer), resolve('replied')),
        reject: () => (clearTimeout(timer), resolve('ended')),
      });
      this.#queue({ op: 'call', id, method: method as EngineMethod, args, seq });
      this.#flush();
      this.#refresh();
    });
  }

  async leave(id: number, timeoutMs: number, lastPeriod: TapPeriod): Promise<void> {
    const member = this.#members.get(id);
    if (!member) return;
    // A tap that never handed anything off still has its summary to write.
    if (lastPeriod.seen > 0 || lastPeriod.shed > 0) this.#ensure(id);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      // A worker still starting either takes the close, or fails and the member has fallen back by then.
      if (this.#worker && !this.#ready) await this.#starting?.promise;
      const remaining = Math.max(0, deadline - Date.now());
      if (member.local) {
        await member.local.close(remaining, lastPeriod);
        break;
      }
      if (!this.#worker || !member.registered) break;
      // A worker that ended before answering (a hook past its budget) passed the member's work to a new one: ask it.
      if ((await this.request(id, 'close', [remaining, lastPeriod], remaining)) !== 'ended') break;
    }
    this.#members.delete(id);
    if (this.#members.size === 0 && this.#worker) {
      // The last instance closed: the worker finishes writing what its log still holds, then ends on its own; it
      // never keeps the process alive. A new instance starts a new one.
      const worker = this.#worker;
      this.#queue({ op: 'retire' });
      this.#flush();
      this.#worker = undefined;
      this.#stopWatching();
      worker.unref();
    }
  }

  /** Resolves once the member's engine has nothing in hand (its worker, or its local engine after a fallback). */
  async whenIdle(id: number): Promise<void> {
    if (this.#worker && !this.#ready) await this.#starting?.promise;
    const member = this.#members.get(id);
    if (member?.local) return member.local.whenIdle();
    if (member?.registered && (await this.request(id, 'whenIdle', [], 24 * 3600_000)) === 'ended') return this.whenIdle(id);
  }

  reopen(): void {
    if (!this.#worker) return;
    this.#queue({ op: 'reopen' });
    this.#flush();
  }

  #queue(message: ToEngine, transfer?: ArrayBuffer[]): void {
    this.#batch.push(message);
    if (transfer) for (const buffer of transfer) this.#transfer.push(buffer);
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(this.#flush);
    }
  }

  /** Sends what this turn queued, once the worker is ready (until then it waits here, and a fallback takes it). */
  readonly #flush = (): void => {
    this.#flushScheduled = false;
    if (!this.#ready || !this.#worker || this.#batch.length === 0) return;
    const batch = this.#batch;
    const transfer = this.#transfer;
    this.#batch = [];
    this.#transfer = [];
    this.#worker.postMessage(batch, transfer);
    this.#postedUpTo = this.#nextExchange - 1;
    this.#forgetTakenIn();
  };

  /** Exchanges the worker has taken in need no keeping. */
  #forgetTakenIn(): void {
    if (!this.#watchdog || this.#unstarted.size === 0) return;
    const upTo = takenInUpTo(this.#watchdog);
    for (const n of this.#unstarted.keys()) {
      if (n > upTo) break;
      this.#unstarted.delete(n);
    }
  }

  /** The worker for this member (started and told about it if needed), or false when the member runs locally. */
  #ensure(id: number): boolean {
    const member = this.#members.get(id);
    if (!member) return false;
    if (member.local) return false;
    if (!this.#worker && !this.failed) this.#start();
    if (!this.#worker) {
      this.#fallBack(member);
      return false;
    }
    if (!member.registered) {
      member.registered = true;
      this.#queue({ op: 'register', id, options: member.options, events: member.events });
    }
    return true;
  }

  #start(): void {
    let worker: Worker;
    try {
      worker = startWorker(this.#watchdog);
    } catch (error) {
      return this.#cannotStart(`the engine's worker could not be created: ${errorMessage(error)}`);
    }
    worker.unref();
    this.#worker = worker;
    this.#ready = false;
    let resolve!: () => void;
    this.#starting = { promise: new Promise<void>((r) => (resolve = r)), resolve };
    this.#outstanding = 0;
    worker.on('message', (message: FromEngine) => this.#receive(worker, message));
    worker.on('error', (error) => this.#ended(worker, error.message));
    worker.on('exit', (code) => this.#ended(worker, `the engine worker exited with code ${code}`));
  }

  #receive(worker: Worker, message: FromEngine): void {
    if (worker !== this.#worker) return;
    switch (message.op) {
      case 'ready':
        this.#ready = true;
        this.#starting?.resolve();
        return this.#flush();
      case 'reply': {
        const waiter = this.#replies.get(message.seq);
        this.#replies.delete(message.seq);
        if (message.error) waiter?.reject(new Error(message.error));
        else waiter?.resolve();
        return this.#refresh();
      }
      case 'warning':
        return process.emitWarning(message.message, { ...(message.code ? { code: message.code } : {}), ...(message.type ? { type: message.type } : {}) });
      case 'feedback':
        return this.#feedback(message.feedback);
    }
  }

  #feedback(feedback: EngineFeedback): void {
    for (const item of feedback.items) {
      const member = this.#members.get(item.id);
      if (!member) continue;
      if (item.stats) member.stats = item.stats;
      if (item.settled > 0) {
        this.#outstanding = Math.max(0, this.#outstanding - item.settled);
        member.outstanding = Math.max(0, member.outstanding - item.settled);
        member.outstandingBytes = Math.max(0, member.outstandingBytes - item.settledBytes);
      }
    }
    deliver(feedback, (id) => this.#members.get(id)?.tap);
    // Unref'd once the worker reports its logs written ('drained'), not on each settle.
    if (feedback.drained) this.#refresh();
  }

  /** The worker keeps the process alive while exchanges are out or the tap waits for a reply; and is watched then. */
  #refresh(): void {
    const worker = this.#worker;
    if (!worker) return;
    const busy = this.#outstanding > 0 || this.#replies.size > 0;
    if (busy) {
      worker.ref();
      this.#watch();
    } else {
      worker.unref();
      this.#stopWatching();
    }
  }

  #watch(): void {
    if (this.#hookWatch || !this.#watchdog) return;
    const clock = this.#watchdog;
    this.#hookWatch = setInterval(() => {
      const overdue = overdueHook(clock);
      if (!overdue || !this.#worker) return;
      const worker = this.#worker;
      void worker.terminate();
      this.#ended(worker, `a hook ran past its time budget (hookTimeoutMs)${overdue === 'unknown' ? '' : `: ${overdue.hook}`}; the engine was restarted`);
      if (overdue === 'unknown') return;
      const { instance, hook, ...exchange } = overdue;
      if (!this.#members.has(instance)) return;
      const skipped: SkippedExchange = { ...exchange, ...(exchange.clientRequestId === undefined ? {} : { clientRequestId: exchange.clientRequestId }), reason: 'hook_timeout', detail: `${hook} ran past hookTimeoutMs` };
      this.call(instance, 'skip', [skipped]);
    }, HOOK_WATCH_EVERY_MS);
    this.#hookWatch.unref();
  }

  #stopWatching(): void {
    clearInterval(this.#hookWatch);
    this.#hookWatch = undefined;
  }

  /** The worker is gone: before it was ready, no worker can run here (fall back); after, it crashed (restart later). */
  #ended(worker: Worker, reason: string): void {
    if (this.#worker !== worker) return;
    const neverReady = !this.#ready;
    this.#worker = undefined;
    this.#ready = false;
    this.#stopWatching();
    for (const waiter of this.#replies.values()) waiter.reject(new Error(reason));
    this.#replies.clear();
    if (neverReady) return this.#cannotStart(`the engine's worker could not start: ${reason}`);
    this.#recover(reason);
  }

  /**
   * After a crash: what the dead worker never took in goes to the next one, in order (queued operations too); what
   * it had started is lost, counted by each tap as `engine_lost`.
   */
  #recover(reason: string): void {
    const takenIn = this.#watchdog ? takenInUpTo(this.#watchdog) : this.#postedUpTo;
    const resend = [...this.#unstarted.values()].filter((message) => message.n! > takenIn && message.n! <= this.#postedUpTo);
    if (this.#watchdog) clearHook(this.#watchdog);
    const queued = this.#batch;
    this.#batch = [];
    this.#transfer = [];
    this.#unstarted.clear();
    this.#outstanding = 0;
    const again = [...resend, ...queued];
    for (const [id, member] of this.#members) {
      member.registered = false;
      const mine = again.filter((m) => m.op === 'call' && m.id === id && m.method === 'accept') as Call[];
      const mineBytes = mine.reduce((sum, m) => sum + (m.args[0] as Exchange).heldBytes, 0);
      const lostCount = member.outstanding - mine.length;
      if (lostCount > 0) member.tap.lost(reason, lostCount, Math.max(0, member.outstandingBytes - mineBytes));
      // Counted again as each is posted anew.
      member.outstanding = 0;
      member.outstandingBytes = 0;
    }
    for (const message of again) {
      if (message.op !== 'call') continue;
      const args = message.args as Parameters<EngineCalls[EngineMethod]>;
      this.call(message.id, message.method, args as never);
    }
  }

  /** No worker here (permissions, thread limits, a bundle without the worker file): each instance runs locally. */
  #cannotStart(reason: string): void {
    this.failed = reason;
    this.#starting?.resolve();
    process.emitWarning(`express-shadow: ${reason}; mirroring continues with the engine in the app's thread (stats().engine.mode is 'in-thread')`, {
      code: 'EXPRESS_SHADOW_ENGINE_FALLBACK',
    });
    const waiting = this.#batch;
    this.#batch = [];
    this.#transfer = [];
    for (const member of this.#members.values()) this.#fallBack(member);
    // What waited for the worker goes to the local engines, in order.
    for (const message of waiting) {
      if (message.op !== 'call') continue;
      const local = this.#members.get(message.id)?.local;
      if (local) localCall(local, message.method, message.args as never);
    }
  }

  #fallBack(member: Member): void {
    if (member.local) return;
    member.registered = false;
    member.local = localLink(member.options, member.tap, false);
    if (member.events) member.local.wantEvents(true);
  }
}

function localCall(link: EngineLink, method: EngineMethod, args: unknown[]): void {
  switch (method) {
    case 'accept':
      return link.accept(args[0] as Exchange, []);
    case 'skip':
      return link.skip(args[0] as SkippedExchange);
    case 'summary':
      return link.summary(args[0] as TapPeriod);
    case 'events':
      return link.wantEvents(args[0] as boolean);
    default:
      return;
  }
}

let shared: EngineWorker | undefined;

/** The engine on the process's shared worker thread (or, when none can start, in the app's thread). */
export function workerLink(options: Record<string, unknown>, tap: TapFeedback): EngineLink {
  shared ??= new EngineWorker();
  const engine = shared;
  let available = true;
  /** The last snapshot outlives the instance's membership, so stats() after close() still tells the end state. */
  let finalStats: EngineStats | undefined;
  const id = engine.join(options, {
    feedback: (item, lagMs) => {
      if (item.stats?.engine?.failed) available = false;
      tap.feedback(item, lagMs);
    },
    lost: (reason, count, bytes) => {
      available = false;
      tap.lost(reason, count, bytes);
    },
  });
  let fellBack: EngineLink | undefined;
  const local = () => (fellBack ??= engine.member(id)?.local);
  return {
    get mode() {
      return local() ? 'in-thread' : 'worker';
    },
    get available() {
      return local()?.available ?? available;
    },
    accept(exchange, transfer) {
      if (!local()) available = true;
      engine.call(id, 'accept', [exchange], transfer);
    },
    skip: (skipped) => engine.call(id, 'skip', [skipped]),
    summary: (period) => engine.call(id, 'summary', [period]),
    stats: () => local()?.stats() ?? engine.member(id)?.stats ?? finalStats,
    whenIdle: () => engine.whenIdle(id),
    close: async (timeoutMs, lastPeriod) => {
      const member = engine.member(id);
      await engine.leave(id, timeoutMs, lastPeriod);
      fellBack ??= member?.local;
      finalStats = member?.local?.stats() ?? member?.stats;
    },
    reopen: () => (local() ? local()!.reopen() : engine.reopen()),
    wantEvents(on) {
      const member = engine.member(id);
      if (!member) return;
      member.events = on;
      if (member.local) member.local.wantEvents(on);
      else if (member.registered) engine.call(id, 'events', [on]);
    },
  };
}
