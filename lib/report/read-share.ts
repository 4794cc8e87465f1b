/**
 * One share of a report read, run in a report thread: in a split read, its own files (read/split-read.ts); in hash
 * shares, every log, joining and summarising the requests whose id hashes to this share (read/share.ts). Returns the
 * summary's state and the reading figures, not the records.
 */
import { bodyPathsOf } from './label-path.js';
import { openShadowLog } from '../read/read-shadow-log.js';
import { readSplit, type SplitReadOptions } from '../read/split-read.js';
import type { ReadProgress, ShadowLogEntry } from '../read/types.js';
import type { ShareRequest, ShareResult } from './share-types.js';
import { ReportBuilder } from './report-builder.js';

/** Entries summarised between two looks at whether the share diverged (then one reader must redo the read). */
const CHECK_EVERY = 4096;
const DIVERGED = new Error('diverged');

export async function readShare(
  request: ShareRequest,
  onProgress?: (progress: ReadProgress) => void,
  onPending?: SplitReadOptions['onPending'],
  signal?: AbortSignal,
): Promise<ShareResult> {
  if (request.files !== undefined) return readSplitShare(request, request.files, onPending, signal);
  const { inputs, options, readOptions, index, count } = request;
  const builder = new ReportBuilder(options);
  const share = { index, count, diverged: null as string | null };
  const bodies = bodyPathsOf(options);
  let n = 0;
  const onEntry = (entry: ShadowLogEntry): void => {
    builder.addEntry(entry);
    // A share that diverged is read again by one thread: stop as soon as it is seen.
    if (++n % CHECK_EVERY === 0 && share.diverged !== null) throw DIVERGED;
  };
  const reader = openShadowLog(inputs, { ...readOptions, onRecord: (record) => builder.addRecord(record), onProgress }, { bodies, share, onEntry });
  try {
    for await (const _ of reader);
  } catch (error) {
    if (error !== DIVERGED) throw error;
  }
  if (share.diverged !== null) return { kind: 'diverged', reason: share.diverged };
  return { kind: 'done', state: builder.state(), stats: reader.stats, orphanOrder: [...reader.orphanOrder] };
}

/** A share of a split read (read/split-read.ts): its files alone, the requests it can join alone summarised. */
async function readSplitShare(request: ShareRequest, files: number[], onPending?: SplitReadOptions['onPending'], signal?: AbortSignal): Promise<ShareResult> {
  const { inputs, options, readOptions } = request;
  const builder = new ReportBuilder(options);
  const bodies = bodyPathsOf(options);
  const result = await readSplit(inputs, { ...readOptions, files, bodies, onPending, signal }, (entry) => builder.addEntry(entry));
  return { kind: 'split', state: builder.state(), result };
}
