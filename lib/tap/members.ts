/**
 * The instances (one per `shadowMiddleware()` call) that share the process's engine worker: what each needs to be
 * registered again on a new worker, what each has out there, and each one's engine in the app's thread once no
 * worker can run.
 */
import type { Exchange } from '../engine/exchange.js';
import type { EngineStats } from '../engine/pipeline.js';
import type { EngineFeedback, ToEngine } from '../engine/protocol.js';
import { localLink, type EngineLink, type TapFeedback } from './engine-link.js';

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

export class Members {
  readonly #byId = new Map<number, Member>();
  #nextId = 1;

  get size(): number {
    return this.#byId.size;
  }

  join(options: Record<string, unknown>, tap: TapFeedback): number {
    const id = this.#nextId++;
    this.#byId.set(id, { options, tap, events: false, registered: false, stats: undefined, local: undefined, outstanding: 0, outstandingBytes: 0 });
    return id;
  }

  get(id: number): Member | undefined {
    return this.#byId.get(id);
  }

  leave(id: number): void {
    this.#byId.delete(id);
  }

  /** Each member's share of the engine's feedback (stats, settled exchanges); returns how many settled in all. */
  settle(feedback: EngineFeedback): number {
    let settled = 0;
    for (const item of feedback.items) {
      const member = this.#byId.get(item.id);
      if (!member) continue;
      if (item.stats) member.stats = item.stats;
      if (item.settled > 0) {
        settled += item.settled;
        member.outstanding = Math.max(0, member.outstanding - item.settled);
        member.outstandingBytes = Math.max(0, member.outstandingBytes - item.settledBytes);
      }
    }
    return settled;
  }

  /**
   * The worker crashed: each member's exchanges it had started, less those going to the next worker (`again`), are
   * lost, and its tap is told. Counts start again from zero, as each exchange is posted anew.
   */
  crashed(reason: string, again: ToEngine[]): void {
    for (const [id, member] of this.#byId) {
      member.registered = false;
      let mine = 0;
      let mineBytes = 0;
      for (const m of again) {
        if (m.op !== 'call' || m.id !== id || m.method !== 'accept') continue;
        mine++;
        mineBytes += (m.args[0] as Exchange).heldBytes;
      }
      const lostCount = member.outstanding - mine;
      if (lostCount > 0) member.tap.lost(reason, lostCount, Math.max(0, member.outstandingBytes - mineBytes));
      member.outstanding = 0;
      member.outstandingBytes = 0;
    }
  }

  /** No worker can run here: every member's engine runs in the app's thread from now on. */
  fallBackAll(): void {
    for (const member of this.#byId.values()) this.fallBack(member);
  }

  fallBack(member: Member): void {
    if (member.local) return;
    member.registered = false;
    member.local = localLink(member.options, member.tap, false);
    if (member.events) member.local.wantEvents(true);
  }
}
