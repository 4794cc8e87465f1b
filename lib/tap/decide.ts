/**
 * Which requests are mirrored: pure decisions, taken before anything is buffered (and `mirrorIf` after production answered).
 */
import { createHash } from 'node:crypto';

/**
 * A stable position in [0, 1) for a sampling key: the same key always lands in the same place, so the same user is
 * always in or always out at a given rate, and raising the rate only adds users.
 */
export function sampleBucket(key: string): number {
  const digest = createHash('sha1').update(key).digest();
  return digest.readUInt32BE(0) / 0x1_0000_0000;
}

/** A request whose draw (random, or the bucket of its key), in [0, 1), falls below the rate is mirrored. */
export function isSampledIn(sampleRate: number, draw: number): boolean {
  if (sampleRate >= 1) return true;
  if (sampleRate <= 0) return false;
  return draw < sampleRate;
}
