export { replayShadowLog, emptyReplayStats } from './replay-shadow-log.js';
export { ShadowReplayError, type ShadowReplayErrorCode } from './errors.js';
export type {
  FilteredReason,
  NotReplayableReason,
  ReplayEnd,
  ReplayMarker,
  ReplayOptions,
  ReplayOutcome,
  ReplayRun,
  ReplayStats,
  ReplaySummary,
  ReplayTransformRequest,
} from './types.js';
