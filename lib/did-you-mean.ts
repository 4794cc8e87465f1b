/**
 * "Did you mean": the one helper behind every suggestion for a misspelt option, flag or name.
 */

/**
 * The candidate a typo most likely meant, or `undefined` when none is close: the same letters in another case,
 * one name containing the other (for names of 3 letters or more), or at most max(2, a third of its length) edits
 * apart (Levenshtein), the nearest winning.
 *
 * @example
 * closestName('sampleRat', ['sampleRate', 'sampleBy']); // 'sampleRate'
 */
export function closestName(typed: string, candidates: Iterable<string>): string | undefined {
  const lower = typed.toLowerCase();
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(typed.length / 3)) + 1;
  for (const candidate of candidates) {
    const other = candidate.toLowerCase();
    if (other === lower) return candidate;
    if (lower.length >= 3 && (other.includes(lower) || lower.includes(other))) return candidate;
    const distance = editDistance(lower, other);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

/** Levenshtein distance with one reused row. */
function editDistance(from: string, to: string): number {
  const row = Array.from({ length: to.length + 1 }, (_, index) => index);
  for (let i = 1; i <= from.length; i++) {
    let diagonal = row[0]!;
    row[0] = i;
    for (let j = 1; j <= to.length; j++) {
      const above = row[j]!;
      row[j] = Math.min(above + 1, row[j - 1]! + 1, diagonal + (from[i - 1] === to[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[to.length]!;
}
