/**
 * Exit codes of `express-shadow report`, decided by a pure function so they can be tested without a process.
 */
import type { Report } from './types.js';

/**
 * The exit codes, by meaning.
 *
 * @example
 * ```ts
 * import { ExitCode, buildReport, getExitCode } from 'express-shadow';
 *
 * const report = await buildReport('logs/shadow.log', { failUnderMatch: 0.99 });
 * if (getExitCode(report) === ExitCode.belowThreshold) console.error('the candidate is not ready');
 * ```
 */
export const ExitCode = {
  /** The report was written; the verdict passed or was marginal, or it could not be judged and the report is not a gate. */
  ok: 0,
  /**
   * The verdict failed: a criterion failed, the score is below `marginalScore`, `--fail-under-match` was set and a
   * candidate's match rate is below it (every candidate must pass), or the report is a gate and there was too little
   * evidence to judge (`verdict.tooLittleEvidence` says why).
   */
  belowThreshold: 1,
  /** Bad arguments: unknown option, bad value, a bad criteria file, `--out` naming an input, no files given. */
  badArguments: 2,
  /** A log file is missing or unreadable, no file matched, or the output could not be written. */
  unreadable: 3,
} as const;

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/**
 * 1 when the report's verdict failed, else 0: what `express-shadow report` exits with, for a gate run from code.
 *
 * @example
 * ```ts
 * import { buildReport, getExitCode } from 'express-shadow';
 *
 * const report = await buildReport(['logs/*.log*'], { failUnderMatch: 0.99 });
 * process.exitCode = getExitCode(report);
 * ```
 */
export function getExitCode(report: Report): ExitCodeValue {
  return report.verdict.status === 'fail' ? ExitCode.belowThreshold : ExitCode.ok;
}
