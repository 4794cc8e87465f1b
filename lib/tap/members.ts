/**
 * The instances (one per `shadowMiddleware()` call) that share the process's engine worker: what each needs to be
 * registered again on a new worker, what each has out there, and each one's engine in the app's thread once no
 * worker can run.
 */
import type { Exchange } from '../engine/exchange.js';
import type { EngineStats } from '../engine/engine-counts.js';
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

/** The members by id. A Map itself, so the per-request lookup is the Map's own `get` (no function of ours). */
export class Members extends Map<number, Member> {
  #nextId = 1;

  join(options: Record<string, unknown>, tap: TapFeedback): number {
    const id = this.#nextId++;
    this.set(id, { options, tap, events: false, registered: false, stats: undefined, local: undefined, outstanding: 0, outstandingBytes: 0 });
    return id;
  }

  /** Each member's share of the engine's feedback (stats, settled exchanges); returns how many settled in all. */
  settle(feedback: EngineFeedback): number {
    let settled = 0;
    for (const item of feedback.items) {
      const member = this.get(item.id);
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
    for (const [id, member] of this) {
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
    for (const member of this.values()) this.fallBack(member);
  }

  fallBack(member: Member): void {
    if (member.local) return;
    member.registered = false;
    member.local = localLink(member.options, member.tap, false);
    if (member.events) member.local.wantEvents(true);
  }
}
