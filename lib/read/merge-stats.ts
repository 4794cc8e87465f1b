/**
 * The reading figures of a read done in shares (one per thread) as one reader's: counts add up (each line is counted by
 * the one share that owns it), per-file figures add up file by file, and the first orphans are the first in the order
 * one reader would have yielded them.
 */
import type { FileReadStats, ReadStats } from './types.js';

const MAX_EXAMPLES = 5;

export interface ShareStats {
  stats: ReadStats;
  /** [step, order in that step] of each orphan example (see `Joiner.orphanOrder`). */
  orphanOrder: readonly [number, number][];
}

const before = (a: readonly [number, number], b: readonly [number, number]): number => a[0] - b[0] || a[1] - b[1];

function addFile(into: FileReadStats, from: FileReadStats): void {
  into.lines += from.lines;
  into.records += from.records;
  into.unparseable += from.unparseable;
  into.unrecognised += from.unrecognised;
}

/**
 * Every count is exact but `peakOpenEntries`, which is the sum of each share's peak: at least the true peak, and at
 * most what all shares held at their busiest.
 */
export function mergeShareStats(parts: readonly ShareStats[]): ReadStats {
  const [first, ...rest] = parts;
  if (first === undefined) throw new TypeError('mergeShareStats: no shares');
  const stats: ReadStats = structuredClone(first.stats);
  for (const { stats: s } of rest) {
    for (const key of ['lines', 'records', 'unparseable', 'unrecognised', 'duplicates', 'entries', 'missingComparisons', 'peakOpenEntries'] as const) {
      stats[key] += s[key];
    }
    for (const key of Object.keys(stats.closedBy) as (keyof ReadStats['closedBy'])[]) stats.closedBy[key] += s.closedBy[key];
    for (const key of Object.keys(stats.orphans) as (keyof ReadStats['orphans'])[]) stats.orphans[key] += s.orphans[key];
    s.files.forEach((file, i) => {
      const into = stats.files[i];
      if (into !== undefined) addFile(into, file);
    });
  }
  stats.orphanExamples = parts
    .flatMap((p) => p.stats.orphanExamples.map((example, i) => ({ example, order: p.orphanOrder[i] ?? ([Infinity, Infinity] as const) })))
    .sort((a, b) => before(a.order, b.order))
    .slice(0, MAX_EXAMPLES)
    .map((o) => o.example);
  return stats;
}
