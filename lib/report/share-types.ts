/**
 * What the main thread sends a report thread, and what the thread sends back (see parallel-report.ts).
 */
import type { SplitReadResult } from '../read/split-read.js';
import type { ReadProgress, ReadShadowLogOptions, ReadStats } from '../read/types.js';
import type { ReportBuilderState } from './report-builder.js';
import type { ReportOptions } from './types.js';

/** The read options a thread can be sent (no functions, no streams). */
export type ShareReadOptions = Pick<ReadShadowLogOptions, 'windowMs' | 'maxOpenEntries' | 'expectComparisons' | 'targets' | 'progressEvery' | 'maxLineLength' | 'cwd'>;

export interface ShareRequest {
  inputs: string[];
  options: ReportOptions;
  readOptions: ShareReadOptions;
  index: number;
  count: number;
  /** A split read: the files (indexes among all matched) this share reads alone; else it reads every file. */
  files?: number[];
}

export type ShareResult =
  | { kind: 'done'; state: ReportBuilderState; stats: ReadStats; orphanOrder: [number, number][] }
  | { kind: 'split'; state: ReportBuilderState; result: SplitReadResult }
  | { kind: 'diverged'; reason: string }
  | { kind: 'error'; error: { readError: boolean; name: string; message: string; code?: string; path?: string; stack?: string } };

/** `pending`: a batch of a split share's kept entries, as report/pending-wire.ts packs them. */
export type ShareMessage = ShareResult | { kind: 'progress'; progress: ReadProgress } | { kind: 'pending'; json: string };
