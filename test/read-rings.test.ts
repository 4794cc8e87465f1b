/**
 * The join's queue of open requestIds and its memory of yielded requests live on rings that grow by doubling. Each is
 * driven here through growth and wrap-around against a plain array doing the same, so a slot read after the ring grew
 * or wrapped is the one written.
 */
import { describe, expect, it } from 'vitest';
import { RING_START, StampedQueue } from '../lib/read/stamped-queue.js';
import { YieldedMemory, type LateEntry, type RequestMap } from '../lib/read/yielded-memory.js';

/** A small seeded generator, so a failure repeats. */
function random(seed: number): () => number {
  let s = seed;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

describe('StampedQueue', () => {
  it('gives ids and stamps back in push order through growth and wrap-around', () => {
    const queue = new StampedQueue();
    const model: [string, number][] = [];
    const next = random(1);
    let n = 0;
    // Pushes outrun shifts, then shifts outrun pushes, several times over: the ring wraps, grows while wrapped, and empties.
    for (let phase = 0; phase < 6; phase++) {
      const pushBias = phase % 2 === 0 ? 0.7 : 0.3;
      for (let step = 0; step < 5 * RING_START; step++) {
        if (next() < pushBias) {
          queue.push(`id${n}`, n * 1.5);
          model.push([`id${n}`, n * 1.5]);
          n++;
        } else {
          queue.shift();
          model.shift();
        }
        expect(queue.size).toBe(model.length);
        expect(queue.peekId()).toBe(model[0]?.[0]);
        if (model.length > 0) expect(queue.peekStamp()).toBe(model[0]?.[1]);
        else expect(queue.peekStamp()).toBeNaN();
      }
    }
    expect(n).toBeGreaterThan(8 * RING_START);
  });

  it('is empty after clear, and shifting an empty queue changes nothing', () => {
    const queue = new StampedQueue();
    for (let i = 0; i < 3 * RING_START; i++) queue.push(`x${i}`, i);
    queue.clear();
    queue.shift();
    expect(queue.size).toBe(0);
    expect(queue.peekId()).toBeUndefined();
    queue.push('y', 7);
    expect([queue.peekId(), queue.peekStamp()]).toEqual(['y', 7]);
  });
});

describe('YieldedMemory', () => {
  it('keeps each place its bits and time through growth and wrap-around, and forgets the oldest first', () => {
    const map: RequestMap<LateEntry> = new Map();
    const memory = new YieldedMemory<LateEntry>(true, map);
    const model = new Map<string, { place: number; bits: number; at: number }>();
    const order: string[] = [];
    const next = random(2);
    let time = 0;
    for (let i = 0; i < 12 * RING_START; i++) {
      time += 1;
      const id = `r${i}`;
      // Bits beyond 2^31, as a request with many targets has them.
      const bits = Math.floor(next() * 2 ** 50);
      memory.remember(id, bits, time, -1);
      const place = map.get(id) as number;
      model.set(id, { place, bits, at: time });
      order.push(id);
      // A remembered id updated in place (a late entry closing again).
      if (i % 7 === 0 && order.length > 1) {
        const old = order[Math.floor(next() * order.length)] as string;
        const kept = model.get(old);
        if (kept !== undefined) {
          kept.bits += 1;
          memory.remember(old, kept.bits, time, kept.place);
        }
      }
      // Forget by time in bursts, so the ring alternately fills and drains.
      if (i % (3 * RING_START) === 2 * RING_START) {
        const before = time - RING_START / 2;
        memory.forget(before, Number.MAX_SAFE_INTEGER);
        for (const [key, value] of model) if (value.at < before) model.delete(key);
      }
    }
    for (const [id, value] of model) {
      expect(map.get(id)).toBe(value.place);
      expect(memory.bitsAt(value.place)).toBe(value.bits);
    }
    // Forgotten ids left the map.
    expect(map.size).toBe(model.size);
    expect(memory.peak).toBeGreaterThan(2 * RING_START);
  });

  it('forgets past the count cap, and tells an open late entry it was forgotten', () => {
    const map: RequestMap<LateEntry> = new Map();
    const memory = new YieldedMemory<LateEntry>(false, map);
    for (let i = 0; i < 3 * RING_START; i++) memory.remember(`r${i}`, 1, i, -1);
    const late: LateEntry = { place: map.get('r0') as number };
    memory.reopened(late.place);
    map.set('r0', late);
    memory.forget(-Infinity, RING_START);
    expect(late.place).toBe(-1);
    expect(map.has('r1')).toBe(false);
    expect(map.get(`r${3 * RING_START - 1}`)).toBe(3 * RING_START - 1);
    expect(memory.bitsAt(3 * RING_START - 1)).toBe(1);
  });
});
