/**
 * The timeline: requests, shadow calls, errors, timeouts, comparisons and matches per period, for the charts.
 */
import { parseTimestamp } from '../../read/parse-record.js';
import type { KeyMapper } from '../keys.js';
import { Timeline, type TimelineState } from '../timeline.js';
import type { Report } from '../types.js';
import type { ComparisonRecord, ShadowRecord } from '../../types.js';
import type { Concern, EntryContext } from './concern.js';

export class TimelineConcern implements Concern<TimelineState> {
  readonly #timeline = new Timeline();

  add({ entry, time, shadowTargets, comparisonTargets }: EntryContext): void {
    const timeline = this.#timeline;
    if (entry.production !== null) timeline.add(time, 'requests');
    // Loops, not forEach with a closure: this runs for every request.
    for (let i = 0; i < entry.shadows.length; i++) {
      const shadow = entry.shadows[i] as ShadowRecord;
      if (shadowTargets[i] === null) continue;
      const at = parseTimestamp(String(shadow.timestamp));
      timeline.add(at, 'shadowCalls');
      if (shadow.error === undefined) continue;
      timeline.add(at, 'shadowErrors');
      if (String(shadow.error.code) === 'timeout') timeline.add(at, 'timeouts');
    }
    for (let i = 0; i < entry.comparisons.length; i++) {
      const comparison = entry.comparisons[i] as ComparisonRecord;
      if (comparisonTargets[i] === null) continue;
      const at = parseTimestamp(String(comparison.timestamp));
      timeline.add(at, 'comparisons');
      if (comparison.match === true) timeline.add(at, 'matches');
    }
  }

  figures(): Report['timeline'] {
    return this.#timeline.result();
  }

  state(): TimelineState {
    return this.#timeline.state();
  }

  merge(state: TimelineState, _keys: KeyMapper): void {
    this.#timeline.merge(state);
  }
}
