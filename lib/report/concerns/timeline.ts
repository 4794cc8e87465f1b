/**
 * The timeline: requests, shadow calls, errors, timeouts, comparisons and matches per period, for the charts.
 */
import { parseTimestamp } from '../../read/parse-record.js';
import type { KeyMapper } from '../keys.js';
import { Timeline, type TimelineState } from '../timeline.js';
import type { Report } from '../types.js';
import type { Concern, EntryContext } from './concern.js';

export class TimelineConcern implements Concern<TimelineState> {
  readonly #timeline = new Timeline();

  add({ entry, time, shadowTargets, comparisonTargets }: EntryContext): void {
    const timeline = this.#timeline;
    if (entry.production !== null) timeline.add(time, 'requests');
    entry.shadows.forEach((shadow, i) => {
      if (shadowTargets[i] === null) return;
      const at = parseTimestamp(String(shadow.timestamp));
      timeline.add(at, 'shadowCalls');
      if (shadow.error === undefined) return;
      timeline.add(at, 'shadowErrors');
      if (String(shadow.error.code) === 'timeout') timeline.add(at, 'timeouts');
    });
    entry.comparisons.forEach((comparison, i) => {
      if (comparisonTargets[i] === null) return;
      const at = parseTimestamp(String(comparison.timestamp));
      timeline.add(at, 'comparisons');
      if (comparison.match === true) timeline.add(at, 'matches');
    });
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
