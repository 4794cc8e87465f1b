/**
 * The process's one engine worker, shared by every instance (`shadowMiddleware()` call): started on first use and
 * again after a crash, retired when the last instance closes. Its parts: the messages of each turn (outbox.ts),
 * the replies awaited (replies.ts), the instances and their fallback (members.ts), the hook watchdog
 * (hook-watch.ts). `workerLink` is one instance's EngineLink over it.
 */
import type { Worker } from 'node:worker_threads';
import { errorMessage } from '../errors.js';
import type { Exchange, SkippedExchange, TapPeriod } from '../engine/exchange.js';
import type { EngineStats } from '../engine/engine-counts.js';
import type { EngineCalls, EngineFeedback, EngineMethod, FromEngine } from '../engine/protocol.js';
import type { HookContext } from '../engine/watchdog.js';
import { callLink, deliver, type EngineLink, type TapFeedback } from './engine-link.js';
import { HookWatch } from './hook-watch.js';
import { Members } from './members.js';
import { Outbox } from './outbox.js';
import { Replies, type ReplyOutcome } from './replies.js';
import { startWorker } from './start-worker.js';

/** Past a close()'s timeout, this much longer for the worker's reply before it is taken as stuck and ended. */
const STUCK_GRACE_MS = 1000;

class EngineWorker {
  readonly members = new Members();
  /** Why no worker can run in this process: every instance then runs its engine in the app's thread. */
  failed: string | undefined;
  #worker: Worker | undefined;
  /** Settles once the worker being started is ready, or has failed to start (and the members fell back). */
  #starting: { promise: Promise<void>; resolve: () => void } | undefined;
  /** Exchanges posted and not settled: while any are out, or a reply is awaited, the worker keeps the process alive. */
  #outstanding = 0;
  readonly #hookWatch = new HookWatch((overdue) => this.#overdue(overdue));
  readonly #outbox = new Outbox(this.#hookWatch);
  readonly #replies = new Replies();

  /** Per request: an exchange, queued for this turn's message (or given to the member's local engine). */
  accept(id: number, exchange: Exchange, transfer: ArrayBuffer[] | undefined): void {
    if (!this.#ensure(id)) {
      this.members.get(id)?.local?.accept(exchange, []);
      return;
    }
    const member = this.members.get(id)!;
    member.outstanding++;
    member.outstandingBytes += exchange.heldBytes;
    this.#outbox.queueExchange(id, exchange, transfer);
    if (this.#outstanding++ === 0) this.#refresh();
  }

  /** Queues an operation; everything queued in one turn of the app's loop goes in one postMessage. */
  call<M extends EngineMethod>(id: number, method: M, args: Parameters<EngineCalls[M]>): void {
    if (method === 'accept') return this.accept(id, args[0] as Exchange, undefined);
    if (!this.#ensure(id)) {
      const local = this.members.get(id)?.local;
      if (local) callLink(local, method, args);
      return;
    }
    this.#outbox.queue({ op: 'call', id, method, args });
  }

  /**
   * An operation the tap waits for. Never rejects; settles within `timeoutMs` (plus a grace) whatever the worker
   * does: `'ended'` when the worker went away first (its work may have gone to a new one).
   */
  request(id: number, method: 'whenIdle' | 'close', args: unknown[], timeoutMs: number): Promise<ReplyOutcome> {
    const worker = this.#worker;
    if (!worker) return Promise.resolve('ended');
    const reply = this.#replies.expect(
      (seq) => this.#outbox.queue({ op: 'call', id, method, args, seq }),
      timeoutMs + STUCK_GRACE_MS,
      // No answer long past the deadline: the worker's thread is blocked. End it; what it had started is counted
      // as lost, what it had not goes to the next worker.
      () => {
        if (this.#worker === worker) void worker.terminate();
      },
    );
    this.#outbox.flush();
    this.#refresh();
    return reply;
  }

  async leave(id: number, timeoutMs: number, lastPeriod: TapPeriod): Promise<void> {
    const member = this.members.get(id);
    if (!member) return;
    // A tap that never handed anything off still has its summary to write.
    if (lastPeriod.seen > 0 || lastPeriod.shed > 0) this.#ensure(id);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      // A worker started ahead of any request has nothing of this member's to close: no need to wait for it.
      if (!member.registered && !member.local) break;
      // A worker still starting either takes the close, or fails and the member has fallen back by then.
      if (this.#worker && !this.#outbox.worker) await this.#starting?.promise;
      const remaining = Math.max(0, deadline - Date.now());
      if (member.local) {
        await member.local.close(remaining, lastPeriod);
        break;
      }
      if (!this.#worker || !member.registered) break;
      // A worker that ended before answering (a hook past its budget) passed the member's work to a new one: ask it.
      if ((await this.request(id, 'close', [remaining, lastPeriod], remaining)) !== 'ended') break;
    }
    this.members.delete(id);
    if (this.members.size === 0) this.#retire();
  }

  /** Resolves once the member's engine has nothing in hand (its worker, or its local engine after a fallback). */
  async whenIdle(id: number): Promise<void> {
    const waiting = this.members.get(id);
    // A worker started ahead of any request holds nothing of a member it was never told about.
    if (!waiting?.registered && !waiting?.local) return;
    if (this.#worker && !this.#outbox.worker) await this.#starting?.promise;
    const member = this.members.get(id);
    if (member?.local) return member.local.whenIdle();
    if (member?.registered && (await this.request(id, 'whenIdle', [], 24 * 3600_000)) === 'ended') return this.whenIdle(id);
  }

  reopen(): void {
    if (!this.#worker) return;
    this.#outbox.queue({ op: 'reopen' });
    this.#outbox.flush();
  }

  /**
   * The last instance closed: the worker finishes writing what its log still holds, then ends on its own; it never
   * keeps the process alive. A new instance starts a new one.
   */
  #retire(): void {
    const worker = this.#worker;
    if (!worker) return;
    if (!this.#outbox.worker) {
      // Started ahead of any request and not ready yet: it holds nothing (a member waits for it before closing),
      // and a 'retire' queued for it would never be delivered, so it is ended.
      this.#worker = undefined;
      this.#hookWatch.stop();
      this.#starting?.resolve();
      void worker.terminate();
      return;
    }
    this.#outbox.queue({ op: 'retire' });
    this.#outbox.flush();
    this.#worker = undefined;
    this.#outbox.worker = undefined;
    this.#hookWatch.stop();
    worker.unref();
  }

  /** Starts the worker, if none runs or is starting, without waiting for a request to hand it. */
  warmUp(): void {
    // Every instance may have closed meanwhile: a worker started then would have no one to retire it.
    if (!this.#worker && !this.failed && this.members.size > 0) this.#start();
  }

  /** The worker for this member (started and told about it if needed), or false when the member runs locally. */
  #ensure(id: number): boolean {
    const member = this.members.get(id);
    if (!member || member.local) return false;
    if (!this.#worker && !this.failed) this.#start();
    if (!this.#worker) {
      this.members.fallBack(member);
      return false;
    }
    if (!member.registered) {
      member.registered = true;
      this.#outbox.queue({ op: 'register', id, options: member.options, events: member.events });
    }
    return true;
  }

  #start(): void {
    let worker: Worker;
    try {
      worker = startWorker(this.#hookWatch.clock);
    } catch (error) {
      return this.#cannotStart(`the engine's worker could not be created: ${errorMessage(error)}`);
    }
    worker.unref();
    this.#worker = worker;
    this.#outbox.worker = undefined;
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
        // Ready: what waited in the outbox goes now.
        this.#outbox.worker = worker;
        this.#starting?.resolve();
        return this.#outbox.flush();
      case 'reply':
        this.#replies.settle(message.seq, message.error);
        return this.#refresh();
      case 'warning':
        return process.emitWarning(message.message, { ...(message.code ? { code: message.code } : {}), ...(message.type ? { type: message.type } : {}) });
      case 'feedback':
        return this.#feedback(message.feedback);
    }
  }

  #feedback(feedback: EngineFeedback): void {
    this.#outstanding = Math.max(0, this.#outstanding - this.members.settle(feedback));
    deliver(feedback, (id) => this.members.get(id)?.tap);
    // Unref'd once the worker reports its logs written ('drained'), not on each settle.
    if (feedback.drained) this.#refresh();
  }

  /** The worker keeps the process alive while exchanges are out or the tap waits for a reply; and is watched then. */
  #refresh(): void {
    const worker = this.#worker;
    if (!worker) return;
    if (this.#outstanding > 0 || this.#replies.pending) {
      worker.ref();
      this.#hookWatch.watch();
    } else {
      worker.unref();
      this.#hookWatch.stop();
    }
  }

  /** A hook ran past its budget, blocking the worker: end it, and write the exchange it was on as skipped. */
  #overdue(overdue: HookContext | 'unknown'): void {
    const worker = this.#worker;
    if (!worker) return;
    void worker.terminate();
    this.#ended(worker, `a hook ran past its time budget (hookTimeoutMs)${overdue === 'unknown' ? '' : `: ${overdue.hook}`}; the engine was restarted`);
    if (overdue === 'unknown') return;
    const { instance, hook, ...exchange } = overdue;
    if (!this.members.get(instance)) return;
    const skipped: SkippedExchange = { ...exchange, ...(exchange.clientRequestId === undefined ? {} : { clientRequestId: exchange.clientRequestId }), reason: 'hook_timeout', detail: `${hook} ran past hookTimeoutMs` };
    this.call(instance, 'skip', [skipped]);
  }

  /** The worker is gone: before it was ready, no worker can run here (fall back); after, it crashed (restart later). */
  #ended(worker: Worker, reason: string): void {
    if (this.#worker !== worker) return;
    const neverReady = !this.#outbox.worker;
    this.#worker = undefined;
    this.#outbox.worker = undefined;
    this.#hookWatch.stop();
    this.#replies.endAll();
    if (neverReady) return this.#cannotStart(`the engine's worker could not start: ${reason}`);
    this.#recover(reason);
  }

  /**
   * After a crash: what the dead worker never took in goes to the next one, in order (queued operations too); what
   * it had started is lost, counted by each tap as `engine_lost`.
   */
  #recover(reason: string): void {
    const resend = this.#outbox.takeNotTakenIn();
    this.#hookWatch.clearHook();
    const again = [...resend, ...this.#outbox.takeQueued()];
    this.#outstanding = 0;
    this.members.crashed(reason, again);
    for (const message of again) {
      if (message.op !== 'call') continue;
      this.call(message.id, message.method, message.args as never);
    }
  }

  /** No worker here (permissions, thread limits, a bundle without the worker file): each instance runs locally. */
  #cannotStart(reason: string): void {
    this.failed = reason;
    this.#starting?.resolve();
    process.emitWarning(`express-shadow: ${reason}; mirroring continues with the engine in the app's thread (stats().engine.mode is 'in-thread')`, {
      code: 'EXPRESS_SHADOW_ENGINE_FALLBACK',
    });
    const waiting = this.#outbox.takeQueued();
    this.members.fallBackAll();
    // What waited for the worker goes to the local engines, in order.
    for (const message of waiting) {
      if (message.op !== 'call') continue;
      const local = this.members.get(message.id)?.local;
      if (local) callLink(local, message.method, message.args);
    }
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
  const id = engine.members.join(options, {
    feedback: (item, lagMs) => {
      if (item.stats?.engine?.failed) available = false;
      tap.feedback(item, lagMs);
    },
    lost: (reason, count, bytes) => {
      available = false;
      tap.lost(reason, count, bytes);
    },
  });
  // The worker takes 0.2 s or more to load its modules: started when the app mounts the middleware (just after,
  // off the caller's tick), not on the first request, so an app under full load from its first second does not
  // hand that long a backlog to a cold engine. Unref'd: a process that never serves may still end at once.
  setImmediate(() => engine.warmUp()).unref();
  let fellBack: EngineLink | undefined;
  const local = () => (fellBack ??= engine.members.get(id)?.local);
  return {
    get mode() {
      return local() ? 'in-thread' : 'worker';
    },
    get available() {
      return local()?.available ?? available;
    },
    accept(exchange, transfer) {
      if (!local()) available = true;
      engine.accept(id, exchange, transfer);
    },
    skip: (skipped) => engine.call(id, 'skip', [skipped]),
    summary: (period) => engine.call(id, 'summary', [period]),
    stats: () => local()?.stats() ?? engine.members.get(id)?.stats ?? finalStats,
    whenIdle: () => engine.whenIdle(id),
    close: async (timeoutMs, lastPeriod) => {
      const member = engine.members.get(id);
      await engine.leave(id, timeoutMs, lastPeriod);
      fellBack ??= member?.local;
      finalStats = member?.local?.stats() ?? member?.stats;
    },
    reopen: () => (local() ? local()!.reopen() : engine.reopen()),
    wantEvents(on) {
      const member = engine.members.get(id);
      if (!member) return;
      member.events = on;
      if (member.local) member.local.wantEvents(on);
      else if (member.registered) engine.call(id, 'events', [on]);
    },
  };
}
