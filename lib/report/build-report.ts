/**
 * `buildReport`: reads the logs and summarises them into a `Report`.
 */
import { bodyPathsOf } from './label-path.js';
import { openShadowLog } from '../read/read-shadow-log.js';
import type { ReadShadowLogOptions } from '../read/types.js';
import { reportInShares, reportInSplit, threadsFor } from './parallel-report.js';
import type { ShareReadOptions } from './share-types.js';
import { ReportBuilder } from './report-builder.js';
import type { Report, ReportOptions } from './types.js';

export { ReportBuilder, type ReportBuilderState } from './report-builder.js';

/** Options of {@link buildReport}: the reader's and the summary's. */
export interface BuildReportOptions extends ReportOptions, Omit<ReadShadowLogOptions, 'onRecord'> {
  /**
   * Threads that read: each reads its own files (or, when that cannot give one reader's result, every file for its
   * share of the requests), and the shares are merged into the report one thread would build. Default: one per idle
   * CPU when there is at least 16 MiB of log per thread; always one for standard input or a pipe.
   */
  threads?: number;
}

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
  const { threads, onProgress, stdin, ...rest } = options;
  const builder = new ReportBuilder(rest);
  const inputs = typeof pathsOrGlobs === 'string' ? [pathsOrGlobs] : [...pathsOrGlobs];
  const count = await threadsFor(inputs, threads, options.cwd ?? process.cwd());
  const { summary, read } = split(rest);
  if (count > 1) {
    const report = (await reportInSplit(inputs, summary, read, count)) ?? (await reportInShares(inputs, summary, read, count, onProgress));
    if (report !== undefined) return report;
  }
  const bodies = bodyPathsOf(options);
  const reader = openShadowLog(inputs, { ...read, onProgress, stdin, onRecord: (record) => builder.addRecord(record) }, { bodies, onEntry: (entry) => builder.addEntry(entry) });
  for await (const _ of reader);
  return builder.build(reader.stats);
}

/** The summary's options and the reader's (those a thread can be sent), without the keys left undefined. */
function split(options: Omit<BuildReportOptions, 'threads' | 'onProgress' | 'stdin'>): { summary: ReportOptions; read: ShareReadOptions } {
  const { windowMs, maxOpenEntries, expectComparisons, targets, progressEvery, maxLineLength, cwd, ...summary } = options;
  const read: ShareReadOptions = { windowMs, maxOpenEntries, expectComparisons, targets, progressEvery, maxLineLength, cwd };
  for (const key of Object.keys(read) as (keyof ShareReadOptions)[]) {
    if (read[key] === undefined) delete read[key];
  }
  return { summary, read };
}
