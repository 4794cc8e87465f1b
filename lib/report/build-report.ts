/**
 * `buildReport`: reads the logs and summarises them into a `Report`.
 */
import { readShadowLog } from '../read/read-shadow-log.js';
import type { ReadShadowLogOptions } from '../read/types.js';
import { ReportBuilder } from './report-builder.js';
import type { Report, ReportOptions } from './types.js';

export { ReportBuilder, type ReportBuilderState } from './report-builder.js';

/** Options of {@link buildReport}: the reader's and the summary's. */
export interface BuildReportOptions extends ReportOptions, Omit<ReadShadowLogOptions, 'onRecord'> {}

/**
 * Reads the logs and summarises them: `readShadowLog` + `ReportBuilder` in one call.
 * Rejects with `ShadowLogReadError` when no file matched or one cannot be opened, and with a `TypeError` for a bad option.
 *
 * @example
 * ```ts
 * const report = await buildReport(['logs/*.log*'], { failUnderMatch: 0.99 });
 * process.stdout.write(renderReport(report, 'text'));
 * ```
 */
export async function buildReport(pathsOrGlobs: string | readonly string[], options: BuildReportOptions = {}): Promise<Report> {
  const builder = new ReportBuilder(options);
  const reader = readShadowLog(pathsOrGlobs, { ...readOptions(options), onRecord: (record) => builder.addRecord(record) });
  for await (const entry of reader) builder.addEntry(entry);
  return builder.build(reader.stats);
}

function readOptions(options: BuildReportOptions): ReadShadowLogOptions {
  const { windowMs, maxOpenEntries, expectComparisons, targets, onProgress, progressEvery, maxLineLength, cwd, stdin } = options;
  const picked: ReadShadowLogOptions = { windowMs, maxOpenEntries, expectComparisons, targets, onProgress, progressEvery, maxLineLength, cwd, stdin };
  for (const key of Object.keys(picked) as (keyof ReadShadowLogOptions)[]) {
    if (picked[key] === undefined) delete picked[key];
  }
  return picked;
}
