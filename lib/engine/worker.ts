/**
 * The engine's worker thread: one per process, shared by every middleware instance whose hooks can cross threads.
 * Messages from the tap are applied in order per instance; what the tap needs back (bytes to release, breaker
 * states, stats, metric events) is batched into one message per turn of this thread's event loop.
 */
import { parentPort } from 'node:worker_threads';
import { resolveOptions } from '../options.js';
import type { BreakerState } from '../types.js';
import type { EngineEvent } from './exchange.js';
import { EngineHost } from './host.js';
import { loadModuleHooks } from './portable-options.js';
import type { FeedbackItem, ToEngine, FromEngine } from './protocol.js';

/** A stats snapshot goes back with the feedback at most this often per instance (the summary sorts latency windows). */
const STATS_EVERY_MS = 100;

const port = parentPort!;
const host = new EngineHost();
/** Per instance: the work already queued behind its registration (module hooks load asynchronously). */
const chains = new Map<number, Promise<void>>();
const feedback = new Map<number, FeedbackItem>();
const eventsWanted = new Set<number>();
const statsSentAt = new Map<number, number>();
let flushScheduled = false;
/** Exchanges accepted and not settled yet, all instances together. */
let inHand = 0;
let drainCheck: Promise<void> | undefined;

/**
 * With nothing in hand, once the logs have written everything, the tap may let the process end: until then the
 * worker keeps it alive, so records already handed off are never lost to a process that simply ran out of work.
 */
function checkDrained(): void {
  if (inHand > 0 || drainCheck) return;
  drainCheck = host.flushAll().then(() => {
    drainCheck = undefined;
    if (inHand === 0) post({ op: 'drained' });
    else checkDrained();
  });
}

function itemFor(id: number): FeedbackItem {
  let item = feedback.get(id);
  if (!item) {
    item = { id, settled: 0, settledBytes: 0 };
    feedback.set(id, item);
  }
  if (!flushScheduled) {
    flushScheduled = true;
    setImmediate(flushFeedback);
  }
  return item;
}

function flushFeedback(force = false): void {
  flushScheduled = false;
  if (feedback.size === 0) return;
  const now = Date.now();
  const items = [...feedback.values()];
  feedback.clear();
  for (const item of items) {
    const due = (statsSentAt.get(item.id) ?? 0) + STATS_EVERY_MS;
    if (force || now >= due) {
      item.stats = host.stats(item.id);
      statsSentAt.set(item.id, now);
    } else {
      // Throttled: the latest state still goes out once the interval has passed.
      setTimeout(() => itemFor(item.id), due - now).unref();
    }
  }
  post({ op: 'feedback', items });
}

function post(message: FromEngine): void {
  port.postMessage(message);
}

async function register(id: number, options: Record<string, unknown>): Promise<void> {
  const config = resolveOptions(await loadModuleHooks(options));
  host.register(id, config, {
    settled(heldBytes) {
      const item = itemFor(id);
      item.settled++;
      item.settledBytes += heldBytes;
      if (--inHand === 0) checkDrained();
    },
    breaker(target: string, state: BreakerState, reopensAt: number) {
      (itemFor(id).breakers ??= []).push([target, state, reopensAt]);
    },
    event(event: EngineEvent) {
      if (eventsWanted.has(id)) (itemFor(id).events ??= []).push(event);
    },
  });
}

/** Runs `work` after everything queued for the instance; a failure is reported, never thrown. */
function inOrder(id: number, work: () => void | Promise<void>): Promise<void> {
  const previous = chains.get(id) ?? Promise.resolve();
  const next = previous.then(work);
  const settled = next.catch(() => {});
  chains.set(id, settled);
  return next;
}

function reply(seq: number, work: Promise<void>): void {
  work.then(
    () => {
      flushFeedback(true);
      post({ op: 'reply', seq });
    },
    (error: unknown) => post({ op: 'reply', seq, error: error instanceof Error ? error.message : String(error) }),
  );
}

port.on('message', receive);

function receive(message: ToEngine): void {
  switch (message.op) {
    case 'batch':
      for (const each of message.messages) receive(each);
      return;
    case 'register':
      if (message.events) eventsWanted.add(message.id);
      reply(message.seq, inOrder(message.id, () => register(message.id, message.options)));
      return;
    case 'exchange':
      void inOrder(message.id, () => {
        // An instance whose registration failed settles what it is given, so the tap's bytes come back.
        const item = itemFor(message.id);
        inHand++;
        if (!host.accept(message.id, message.exchange)) {
          item.settled++;
          item.settledBytes += message.exchange.heldBytes;
          if (--inHand === 0) checkDrained();
        }
      });
      return;
    case 'skip':
      void inOrder(message.id, () => host.skip(message.id, message.skipped));
      return;
    case 'summary':
      void inOrder(message.id, () => host.writeSummary(message.id, message.period));
      return;
    case 'events':
      if (message.on) eventsWanted.add(message.id);
      else eventsWanted.delete(message.id);
      return;
    case 'idle':
      reply(
        message.seq,
        inOrder(message.id, async () => {
          await host.whenIdle(message.id);
          // The tap reads stats() right after: send the state as of now, whatever the throttle says.
          flushFeedback(true);
          post({ op: 'feedback', items: [{ id: message.id, settled: 0, settledBytes: 0, stats: host.stats(message.id) }] });
        }),
      );
      return;
    case 'close':
      reply(
        message.seq,
        inOrder(message.id, async () => {
          flushFeedback(true);
          const stats = await host.close(message.id, message.timeoutMs, message.period);
          flushFeedback(true);
          post({ op: 'feedback', items: [{ id: message.id, settled: 0, settledBytes: 0, stats }] });
          chains.delete(message.id);
          eventsWanted.delete(message.id);
          statsSentAt.delete(message.id);
        }),
      );
      return;
    case 'reopen':
      host.reopen();
      return;
    case 'retire':
      // No instance left: stop listening, so the thread ends once the log has written what it still holds.
      port.close();
      return;
  }
}
