/**
 * What the tap knows of its engine, kept from the engine's feedback: how many exchanges it holds and the bytes of
 * the budget they hold, how far behind its loop runs, and each target's breaker. The tap decides with these on its
 * own thread, without asking the engine. It is also the tap's one way to give the engine an exchange or a skip.
 */
import type { ByteBudget } from '../byte-budget.js';
import type { Exchange, SkippedExchange } from '../engine/exchange.js';
import type { ResolvedOptions } from '../engine/config.js';
import type { FeedbackItem } from '../engine/protocol.js';
import type { BreakerState } from '../types.js';
import type { EngineLink, TapFeedback } from './engine-link.js';
import type { TapCounters } from './tap-counters.js';

/** A target as the tap decides with it: its sampling, and its breaker as the engine last reported it. */
interface TargetView {
  readonly name: string;
  readonly role: 'candidate' | 'secondary';
  readonly sampleRate: number | undefined;
  state: BreakerState;
  reopensAt: number;
}

export class EngineView implements TapFeedback {
  link!: EngineLink;
  /** Exchanges handed to the engine and not settled yet. */
  inEngine = 0;
  /** How far behind the engine's loop ran at its last feedback. */
  lagMs = 0;
  readonly targets: TargetView[];
  /** The bytes of the budget the exchanges in the engine hold. */
  #bytes = 0;

  constructor(
    config: ResolvedOptions,
    private readonly budget: ByteBudget,
    private readonly counters: TapCounters,
  ) {
    this.targets = config.targets.map((t) => ({ name: t.name, role: t.role, sampleRate: t.sampleRate, state: 'closed', reopensAt: 0 }));
  }

  /** Gives the engine an exchange; the bytes it holds come back with its feedback. */
  accept(exchange: Exchange): void {
    this.inEngine++;
    this.#bytes += exchange.heldBytes;
    this.link.accept(exchange, transferList(exchange));
  }

  /** Counts a request that will not be mirrored and has the engine write its record. */
  skip(skipped: SkippedExchange & { clientRequestId?: string | undefined }): void {
    this.counters.skippedFor(skipped.reason, skipped.route);
    const { clientRequestId, ...rest } = skipped;
    this.link.skip(clientRequestId === undefined ? rest : { ...rest, clientRequestId });
  }

  feedback(item: FeedbackItem, lagMs: number): void {
    this.lagMs = lagMs;
    if (item.settled > 0) this.#settled(item.settled, item.settledBytes);
    if (item.breakers) for (const [target, state, reopensAt] of item.breakers) this.#breaker(target, state, reopensAt);
    if (item.events) for (const event of item.events) this.counters.engineEvent(event);
  }

  lost(reason: string, count: number, bytes: number): void {
    const lost = Math.min(count, this.inEngine);
    if (lost > 0) this.counters.lostInEngine(lost);
    this.inEngine -= lost;
    this.lagMs = 0;
    const freed = Math.min(bytes, this.#bytes);
    this.budget.giveBack(freed);
    this.#bytes -= freed;
    for (const view of this.targets) Object.assign(view, { state: 'closed', reopensAt: 0 });
    warnOnce(reason);
  }

  #settled(count: number, bytes: number): void {
    this.inEngine = Math.max(0, this.inEngine - count);
    this.#bytes = Math.max(0, this.#bytes - bytes);
    this.budget.giveBack(bytes);
  }

  #breaker(target: string, state: BreakerState, reopensAt: number): void {
    const view = this.targets.find((t) => t.name === target);
    if (view) Object.assign(view, { state, reopensAt });
  }
}

/**
 * Large byte arrays are transferred to the worker rather than copied (each has a buffer of its own, copied at
 * capture). Small ones are copied by postMessage, which costs about the same, and keep the exchange whole on this
 * side until the worker has taken it in, so a worker that dies first (a hook past its budget) loses none of them.
 */
const TRANSFER_FROM_BYTES = 64 * 1024;
const NOTHING_TO_TRANSFER: ArrayBuffer[] = [];

/** Small exchanges (most) share one empty list: nothing is made for them. */
function transferList(exchange: Exchange): ArrayBuffer[] {
  if ((exchange.body?.byteLength ?? 0) + exchange.response.bytes < TRANSFER_FROM_BYTES) return NOTHING_TO_TRANSFER;
  const buffers = new Set<ArrayBuffer>();
  addOwnBuffer(buffers, exchange.body);
  for (const chunk of exchange.response.chunks) addOwnBuffer(buffers, chunk);
  return [...buffers];
}

function addOwnBuffer(buffers: Set<ArrayBuffer>, bytes: Uint8Array | undefined): void {
  if (bytes && bytes.buffer instanceof ArrayBuffer && bytes.byteLength === bytes.buffer.byteLength) buffers.add(bytes.buffer);
}

let warned = false;
function warnOnce(reason: string): void {
  if (warned) return;
  warned = true;
  process.emitWarning(`express-shadow: the mirroring engine stopped (${reason}); production is unaffected and the next mirrored request starts a new engine`, {
    code: 'EXPRESS_SHADOW_ENGINE',
  });
}
