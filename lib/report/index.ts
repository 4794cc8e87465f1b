/**
 * Public API of the log-to-decision half: read and join shadow logs, summarise them into a `Report`, render it.
 */
export * from '../read/index.js';
export { buildReport, ReportBuilder, type BuildReportOptions, type ReportBuilderState } from './build-report.js';
export { renderReport, REPORT_FORMATS, type RenderOptions } from './render.js';
export { getExitCode, ExitCode, type ExitCodeValue } from './exit-code.js';
export { DEFAULT_CRITERIA, resolveCriteria, type Criteria } from './criteria.js';
export type {
  BreakerTransition,
  CriterionKind,
  CriterionResult,
  CriterionStatus,
  DifferingPath,
  MatchGate,
  RouteTargetFigures,
  LabelFigures,
  LatencyFigures,
  LatencyRatio,
  NoiseFigures,
  NoisePath,
  NumericDifference,
  Rate,
  Report,
  ReportFormat,
  ReportOptions,
  RouteFigures,
  StreamingFigures,
  StreamSideFigures,
  TargetFigures,
  TimelineBucket,
  Verdict,
  VerdictStatus,
} from './types.js';
