/**
 * Every concern of the report, by name: one accumulator each (totals, agreement, labels, latency, errors, ...),
 * made from the validated options. Adding a concern: a line here, and its figures in figures.ts.
 */
import type { Criteria } from '../criteria.js';
import type { ReportOptions } from '../types.js';
import { AgreementConcern } from './agreement.js';
import { BreakersConcern } from './breakers.js';
import { DifferencesConcern } from './differences.js';
import { ErrorsConcern } from './errors.js';
import { LabelsConcern } from './labels.js';
import { LatencyConcern } from './latency.js';
import { NoiseConcern } from './noise.js';
import { ScoresConcern } from './scores.js';
import { SimilarityConcern } from './similarity.js';
import { StatusConcern } from './status.js';
import { StreamingConcern } from './streaming.js';
import { TimelineConcern } from './timeline.js';
import { TotalsConcern } from './totals.js';

/** Options after validation and defaults. */
export interface ResolvedReportOptions {
  options: ReportOptions;
  since: number | null;
  until: number | null;
  criteria: Criteria;
  /** The report is a gate, so it fails closed (`ReportOptions.gate`). */
  gated: boolean;
  topPaths: number;
  examplesPerPath: number;
  maxDistinctPaths: number;
  maxRoutes: number;
  maxLabels: number;
}

/** Every concern, by name. */
export function createConcerns(o: ResolvedReportOptions) {
  const { labelPath, scorePath, route } = o.options;
  return {
    totals: new TotalsConcern({ route }),
    agreement: new AgreementConcern(),
    errors: new ErrorsConcern(),
    latency: new LatencyConcern({ maxEngineDelayMs: o.criteria.maxEngineDelayMs }),
    status: new StatusConcern(),
    differences: new DifferencesConcern(o),
    noise: new NoiseConcern(o),
    labels: labelPath === undefined ? null : new LabelsConcern({ labelPath, maxLabels: o.maxLabels }),
    scores: scorePath === undefined ? null : new ScoresConcern({ scorePath }),
    streaming: new StreamingConcern(),
    timeline: new TimelineConcern(),
    breakers: new BreakersConcern(),
    similarity: new SimilarityConcern({ route }),
  };
}

export type Concerns = ReturnType<typeof createConcerns>;
