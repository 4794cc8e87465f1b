/**
 * A report thread: reads every log, joins and summarises its share of the requests (see read/share.ts), and sends
 * back the summary's state and its reading figures (not the records).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { openShadowLog } from '../read/read-shadow-log.js';
import { ShadowLogReadError } from '../read/types.js';
import { ReportBuilder } from './report-builder.js';
import type { ShareRequest, ShareResult } from './parallel-report.js';

/** Entries summarised between two looks at whether the share diverged (then one reader must redo the read). */
const CHECK_EVERY = 4096;

async function readShare(request: ShareRequest): Promise<ShareResult> {
  const { inputs, options, readOptions, index, count } = request;
  const builder = new ReportBuilder(options);
  const share = { index, count, diverged: null as string | null };
  const bodies = options.labelPath !== undefined || options.scorePath !== undefined;
  const reader = openShadowLog(
    inputs,
    {
      ...readOptions,
      onRecord: (record) => builder.addRecord(record),
      onProgress: (progress) => parentPort?.postMessage({ kind: 'progress', progress }),
    },
    { bodies, share },
  );
  let n = 0;
  for await (const entry of reader) {
    builder.addEntry(entry);
    if (++n % CHECK_EVERY === 0 && share.diverged !== null) break;
  }
  if (share.diverged !== null) return { kind: 'diverged', reason: share.diverged };
  return { kind: 'done', state: builder.state(), stats: reader.stats, orphanOrder: [...reader.orphanOrder] };
}

readShare(workerData as ShareRequest).then(
  (result) => parentPort?.postMessage(result),
  (error: unknown) => {
    const e = error as Error & { code?: string; path?: string };
    parentPort?.postMessage({
      kind: 'error',
      error: { readError: error instanceof ShadowLogReadError, name: e.name, message: e.message, code: e.code, path: e.path, stack: e.stack },
    } satisfies ShareResult);
  },
);
