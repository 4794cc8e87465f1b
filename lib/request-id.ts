/**
 * New request ids: uuid v7 (time-ordered, so logs sort and join by time), with random bytes drawn from a pooled
 * buffer: one `randomFillSync` for 256 ids instead of one `getRandomValues` per id. A leaf, for the tap (ids the app
 * asks for) and the engine (every other id) alike.
 */
import { randomFillSync } from 'node:crypto';
import { v7 as uuidv7 } from 'uuid';

const pool = Buffer.alloc(16 * 256);
let poolOffset = pool.length;

export function newRequestId(): string {
  if (poolOffset + 16 > pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const random = pool.subarray(poolOffset, poolOffset + 16);
  poolOffset += 16;
  return uuidv7({ random });
}
