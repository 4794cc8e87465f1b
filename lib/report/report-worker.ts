/**
 * A report thread: runs one share (read-share.ts) and posts its progress and its result to the main thread.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { ShadowLogReadError } from '../read/types.js';
import type { ShareRequest, ShareResult } from './share-types.js';
import { packPending } from './pending-wire.js';
import { readShare } from './read-share.js';

readShare(
  workerData as ShareRequest,
  (progress) => parentPort?.postMessage({ kind: 'progress', progress }),
  // A split share's kept entries go as they come, so this thread holds few of them, and the main thread parses them
  // while the threads still read, not after.
  (entries, repeats) => parentPort?.postMessage({ kind: 'pending', json: packPending(entries, repeats) }),
).then(
  // A split share's hashes and watermarks (8 bytes per request and per record) are moved, not copied.
  (result) => parentPort?.postMessage(result, result.kind === 'split' ? [result.result.accepted.buffer as ArrayBuffer, result.result.watermarks.buffer as ArrayBuffer] : []),
  (error: unknown) => {
    const e = error as Error & { code?: string; path?: string };
    parentPort?.postMessage({
      kind: 'error',
      error: { readError: error instanceof ShadowLogReadError, name: e.name, message: e.message, code: e.code, path: e.path, stack: e.stack },
    } satisfies ShareResult);
  },
);
