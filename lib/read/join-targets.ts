/**
 * What the join learns from every record, whichever request it belongs to: the targets seen (when the production
 * records do not list theirs), which of them log comparisons, and each target's bit in the memory of yielded requests.
 * A request is complete only against this knowledge, so it is kept apart from the entries (join.ts).
 */
import type { ComparisonRecord, ProductionRecord, ShadowLogRecord, ShadowRecord, SkippedRecord } from '../types.js';

const MAX_LEARNED_TARGETS = 64;
/**
 * Answered shadows of a target read without a single comparison for it, after which its entries stop waiting for one:
 * the log was written with `compare: false` (or a comparator that never logs), and waiting would hold every entry for
 * the whole window.
 */
export const COMPARISON_PROBE = 1000;
/** Steps without a target learned before a split read takes its learned targets as all there are (see `plain`). */
const SETTLED_STEPS = 1000;
/**
 * Targets whose records are remembered after their request was yielded: two bits each (shadow, comparison) after the
 * production and skipped bits, within the 53 bits a double holds exactly. Records of further targets are not
 * recognised as repeats once their request was yielded (they count as late).
 */
export const REMEMBERED_TARGETS = 25;

export interface TargetOptions {
  expectComparisons: boolean;
  targets: string[] | undefined;
  /** Targets known to log comparisons from the start (a join of requests picked out of a whole read). */
  compared?: string[];
}

export class TargetKnowledge {
  readonly #expectComparisons: boolean;
  readonly #targets: Set<string>;
  /** The same, in an array (iterated for every record of older logs, whose production records do not list targets). */
  readonly #targetList: string[];
  readonly #learnTargets: boolean;
  /** The step a target was last learned at. */
  #learnedStep = 0;
  /** Answered shadows per target, until the target's first comparison is seen. */
  readonly #answered = new Map<string, number>();
  /** Targets that have had a comparison, with the step of their first. */
  readonly #comparedAt = new Map<string, number>();
  /** Bit index (shadow; comparison is one more) of the first `REMEMBERED_TARGETS` targets seen. */
  readonly #targetBits = new Map<string, number>();
  /**
   * The target last found to have nothing left to teach (known, with its bit if there is room, compared): the next
   * record of it, most records, is then passed over without a lookup.
   */
  #settled: string | undefined;

  constructor(options: TargetOptions) {
    this.#expectComparisons = options.expectComparisons;
    this.#targets = new Set(options.targets ?? []);
    this.#targetList = [...this.#targets];
    this.#learnTargets = options.targets === undefined;
    for (const target of options.compared ?? []) this.#comparedAt.set(target, 0);
  }

  /** Targets given or learned so far. */
  get count(): number {
    return this.#targets.size;
  }

  /** What a record teaches at `step`; `answered`: a shadow record without `error`. */
  observe(type: ShadowLogRecord['type'], target: string | undefined, answered: boolean, step: number): void {
    if ((type !== 'shadow' && type !== 'comparison') || typeof target !== 'string' || target === this.#settled) return;
    if (this.#learnTargets && this.#targets.size < MAX_LEARNED_TARGETS && !this.#targets.has(target)) {
      this.#targets.add(target);
      this.#targetList.push(target);
      this.#learnedStep = step;
    }
    if (!this.#targetBits.has(target) && this.#targetBits.size < REMEMBERED_TARGETS) this.#targetBits.set(target, 2 + 2 * this.#targetBits.size);
    if (type === 'comparison') {
      if (!this.#comparedAt.has(target) && this.#comparedAt.size < MAX_LEARNED_TARGETS) {
        this.#comparedAt.set(target, step);
        this.#answered.delete(target);
      }
    } else if (answered && !this.#comparedAt.has(target)) {
      const n = this.#answered.get(target);
      if (n !== undefined) this.#answered.set(target, n + 1);
      else if (this.#answered.size < MAX_LEARNED_TARGETS) this.#answered.set(target, 1);
    }
    if (this.#comparedAt.has(target) && (this.#targetBits.has(target) || this.#targetBits.size >= REMEMBERED_TARGETS) && this.#knows(target)) this.#settled = target;
  }

  /** Whether `target` is among the targets, or no more can be learned. */
  #knows(target: string): boolean {
    return !this.#learnTargets || this.#targets.size >= MAX_LEARNED_TARGETS || this.#targets.has(target);
  }

  /** Whether an answered shadow of `target` is worth waiting a comparison for. */
  awaitsComparison(target: string): boolean {
    if (!this.#expectComparisons) return false;
    if (this.#comparedAt.has(target)) return true;
    return (this.#answered.get(target) ?? 0) < COMPARISON_PROBE;
  }

  /** Whether `observe` needs to know if a shadow of `target` was answered: only while its comparisons are in doubt. */
  needsAnswered(target: string): boolean {
    return this.#expectComparisons && !this.#comparedAt.has(target) && (this.#answered.get(target) ?? 0) < COMPARISON_PROBE;
  }

  /** The targets a request was sent to: those its production record lists, else those given or learned. */
  targetsOf(production: ProductionRecord): readonly unknown[] {
    return Array.isArray(production.targets) ? production.targets : this.#targetList;
  }

  /** The bit of a record in the set remembered per yielded request; -1 when its target is past the first few. */
  bitOf(record: ProductionRecord | ShadowRecord | ComparisonRecord | SkippedRecord): number {
    if (record.type === 'production') return 0;
    if (record.type === 'skipped') return 1;
    const bit = this.#targetBits.get(record.target);
    if (bit === undefined) return -1;
    return record.type === 'shadow' ? bit : bit + 1;
  }

  /**
   * Whether an entry's completeness hung only on its own records and what every reader knows when it opened (split
   * reads): see `SplitEntry.plain`. Targets learned from the logs count when none had been learned for a while before
   * it opened (`SETTLED_STEPS`) and none while it was open (`learnedAtOpen`: the count then); the main thread checks
   * every reader had learned them all.
   */
  plain(production: ProductionRecord | null, shadows: readonly ShadowRecord[], openedStep: number, learnedAtOpen: number): { plain: boolean; learned: number } {
    let learned = -1;
    if (production !== null && !Array.isArray(production.targets) && this.#learnTargets) {
      if (openedStep - this.#learnedStep < SETTLED_STEPS || learnedAtOpen !== this.#targets.size) return { plain: false, learned };
      learned = learnedAtOpen;
    }
    if (!this.#expectComparisons) return { plain: true, learned };
    for (const shadow of shadows) {
      if (shadow.error !== undefined) continue;
      const at = this.#comparedAt.get(shadow.target);
      if (at === undefined || at >= openedStep) return { plain: false, learned };
    }
    return { plain: true, learned };
  }
}
