/**
 * The engine works in short slices between turns of its loop, so that what arrives meanwhile (an answer, and the
 * time it is read at) never waits for a whole backlog of work; finished calls come before new requests.
 */
import { describe, expect, it } from 'vitest';
import { WorkLoop } from '../lib/engine/work-loop.js';

/** Keeps the thread busy for `ms` of wall time, as preparing a request or building records does. */
function busy(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end);
}

describe('the engine\'s work loop', () => {
  it('lets the loop run between slices: a timer due during a long backlog fires before the backlog is done', async () => {
    const work = new WorkLoop();
    const done: number[] = [];
    for (let i = 0; i < 200; i++) work.intake(() => (busy(0.5), done.push(i)));
    const seenAt = await new Promise<number>((resolve) => setTimeout(() => resolve(done.length), 10));
    expect(seenAt).toBeLessThan(200);
    await new Promise<void>((resolve) => work.intake(resolve));
    expect(done).toEqual(Array.from({ length: 200 }, (_, i) => i));
  });

  it('runs finished calls before new requests, each in the order given', async () => {
    const work = new WorkLoop();
    const order: string[] = [];
    work.intake(() => order.push('request 1'));
    work.intake(() => order.push('request 2'));
    work.finished(() => order.push('answer 1'));
    work.finished(() => order.push('answer 2'));
    await new Promise<void>((resolve) => work.intake(resolve));
    expect(order).toEqual(['answer 1', 'answer 2', 'request 1', 'request 2']);
  });

  it('says how long the oldest request has waited, and 0 once none waits', async () => {
    const work = new WorkLoop();
    expect(work.waitingMs()).toBe(0);
    work.intake(() => {});
    // Asked 50 ms after a moment no earlier than the request was queued: it has waited at least that long.
    const queued = performance.now();
    expect(work.waitingMs(queued + 50)).toBeGreaterThanOrEqual(50);
    await new Promise<void>((resolve) => work.intake(resolve));
    expect(work.waitingMs()).toBe(0);
  });

  it('keeps going after a piece of work that throws', async () => {
    const work = new WorkLoop();
    const order: number[] = [];
    work.intake(() => {
      throw new Error('boom');
    });
    work.intake(() => order.push(2));
    await new Promise<void>((resolve) => work.intake(resolve));
    expect(order).toEqual([2]);
  });
});
