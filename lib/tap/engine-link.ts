/**
 * The hand-off: one narrow interface between a tap and its engine, with two implementations of one engine (the
 * host, see engine/host.ts). The worker link (engine-worker.ts) posts each operation to the process's one engine
 * worker (exchanges' byte arrays transferred, not copied); the local link, here, calls a host in this thread, for
 * hooks that cannot cross threads, and as the fallback when no worker can be started.
 */
import type { ResolvedOptions } from '../engine/config.js';
import type { Exchange, SkippedExchange, TapPeriod } from '../engine/exchange.js';
import type { EngineHost } from '../engine/host.js';
import type { EngineStats } from '../engine/engine-counts.js';
import type { EngineCalls, EngineFeedback, EngineMethod, FeedbackItem } from '../engine/protocol.js';

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

/**
 * The engine in the app's own thread: same host, no copies, and the cost on the app's event loop. The host's
 * modules (and with them undici and winston) are loaded here, on first use, so that an app whose engine runs in
 * its worker never loads them on its own thread; operations made meanwhile wait for it, in order.
 */
export function localLink(options: ResolvedOptions | Record<string, unknown>, tap: TapFeedback, resolved: boolean): EngineLink {
  let host: EngineHost | undefined;
  let available = true;
  const loading = import('../engine/host.js').then(
    ({ EngineHost }) => {
      host = new EngineHost((feedback) => deliver(feedback, () => tap), { immediate: true });
      const started = host;
      void started.register(0, options, false, resolved).then(() => (available = started.stats(0) !== undefined));
      return started;
    },
    () => {
      available = false;
      return undefined;
    },
  );
  const call = <M extends EngineMethod>(method: M, ...args: Parameters<EngineCalls[M]>): Promise<void> =>
    host ? host.call(0, method, args) : loading.then((loaded) => loaded?.call(0, method, args));
  return {
    mode: 'in-thread',
    get available() {
      return available;
    },
    accept: (exchange) => void call('accept', exchange),
    skip: (skipped) => void call('skip', skipped),
    summary: (period) => void call('summary', period),
    stats: () => host?.stats(0),
    whenIdle: () => call('whenIdle'),
    close: (timeoutMs, lastPeriod) => call('close', timeoutMs, lastPeriod),
    reopen: () => void (host ? host.reopen() : loading.then((loaded) => loaded?.reopen())),
    wantEvents: (on) => void call('events', on),
  };
}

/** Each tap its item of the feedback; one tap that throws stops none of the others. */
export function deliver(feedback: EngineFeedback, tapOf: (id: number) => TapFeedback | undefined): void {
  for (const item of feedback.items) {
    try {
      tapOf(item.id)?.feedback(item, feedback.lagMs);
    } catch {
      // A tap's bookkeeping must never stop the others'.
    }
  }
}

/** One operation of the engine interface, called on a link (what was queued for a worker, given to a local engine). */
export function callLink(link: EngineLink, method: EngineMethod, args: unknown[]): void {
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
