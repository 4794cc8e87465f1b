/**
 * The report on every core. First a split read: each thread reads its own files (read/split-read.ts) and the main
 * thread merges their summaries and joins the requests that crossed files (split-merge.ts). When the threads cannot
 * prove that gives one reader's report, hash shares: each thread reads every log but joins and summarises only the
 * requests whose requestId hashes to it, so no request is split between threads. Either way the result is the report
 * one thread would build (see docs/at-scale.md for what can differ); if a hash share finds the logs are not what the
 * shares assume, one thread reads them again.
 */
import { stat } from 'node:fs/promises';
import { availableParallelism, loadavg } from 'node:os';
import { Worker } from 'node:worker_threads';
import { mergeShareStats, type ShareStats } from '../read/merge-stats.js';
import { resolveFiles, STDIN } from '../read/resolve-files.js';
import { ShadowLogReadError, type ReadProgress, type ShadowLogReadErrorCode } from '../read/types.js';
import { KeptEntries, packPending } from './pending-wire.js';
import { readShare } from './read-share.js';
import { reportOfSplit } from './split-merge.js';
import { ReportBuilder } from './report-builder.js';
import type { ShareMessage, ShareReadOptions, ShareRequest, ShareResult } from './share-types.js';
import type { Report, ReportOptions } from './types.js';

/**
 * Heap of a split read's threads. A share holds a few tens of MB (its window, its summary, a hash per request it
 * joined); with V8's defaults a thread let garbage reach several times that before collecting it. A share that needs
 * more than this (measured: 15–30 MB live on a million requests) stops with ERR_WORKER_OUT_OF_MEMORY and the logs are read in hash shares instead.
 */
const SPLIT_LIMITS = { maxYoungGenerationSizeMb: 16, maxOldGenerationSizeMb: 64 };

/** Below this much log, one thread is quicker than starting several. */
const MIN_BYTES_PER_THREAD = 16 * 1024 * 1024;

/**
 * CPUs no other process is using (the CPUs less the last minute's load average), at least one: on a busy machine a
 * second thread's extra work (a split read's bookkeeping and merge; in hash shares every thread reads every line)
 * costs more than it saves.
 */
function idleCpus(): number {
  return Math.max(1, Math.min(availableParallelism(), Math.round(availableParallelism() - (loadavg()[0] ?? 0))));
}

/**
 * Threads to read with: `threads` when given, else one per idle CPU when there is at least 16 MiB of log per thread.
 * Always one for standard input or a pipe (they can be read only once) and when a file cannot be looked at (one thread
 * then reports why).
 */
export async function threadsFor(inputs: readonly string[], threads: number | undefined, cwd: string): Promise<number> {
  if (threads !== undefined && (!Number.isInteger(threads) || threads < 1)) {
    throw new TypeError(`\`threads\` must be a positive integer; got ${JSON.stringify(threads)}.`);
  }
  const wanted = threads ?? idleCpus();
  if (wanted === 1) return 1;
  let files;
  try {
    ({ files } = await resolveFiles(inputs, cwd));
  } catch {
    return 1;
  }
  let bytes = 0;
  for (const file of files) {
    if (file.absolutePath === STDIN) return 1;
    const info = await stat(file.absolutePath).catch(() => undefined);
    if (info === undefined || !info.isFile()) return 1;
    bytes += info.size;
  }
  return threads ?? Math.max(1, Math.min(wanted, Math.floor(bytes / MIN_BYTES_PER_THREAD)));
}

/** The thread's module: tests run the TypeScript sources, so the worker is then the `.ts` file, loaded through tsx. */
function startWorker(request: ShareRequest): Worker {
  const resourceLimits = request.files === undefined ? { maxYoungGenerationSizeMb: 8 } : SPLIT_LIMITS;
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL('./report-worker.js', import.meta.url), { workerData: request, resourceLimits });
  const source = JSON.stringify(new URL('./report-worker.ts', import.meta.url).href);
  return new Worker(`import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${source}); })`, { eval: true, workerData: request });
}

function errorOf(error: Extract<ShareResult, { kind: 'error' }>['error']): Error {
  if (error.readError) return new ShadowLogReadError(error.code as ShadowLogReadErrorCode, error.message, error.path);
  const e = new Error(error.message);
  e.name = error.name;
  if (error.stack !== undefined) e.stack = error.stack;
  return e;
}

/**
 * Runs one share: the first on this thread (which would otherwise only wait), the others on report threads.
 * `onProgress` gets the share's own progress.
 *
 * In a split read too the first share is this thread's: a third isolate cost its own start, and its own compilation
 * of the code the merge runs after the last thread (measured with perf on the 1M set: V8's background compilation,
 * once per isolate, was 8-9 % of the report's CPU), while the code this thread merges with is the code it has just
 * read its share with, already optimised. The other shares run on threads with a bounded heap.
 */
function runShare(request: ShareRequest, onProgress: (progress: ReadProgress) => void): { result: Promise<ShareResult>; stop: () => void } {
  if (request.index === 0) return request.files === undefined ? { result: readShare(request, onProgress), stop: () => undefined } : splitShareHere(request);
  const worker = startWorker(request);
  const result = new Promise<ShareResult>((resolve, reject) => {
    // A split share's kept entries, parsed as they come rather than all once the last thread ends.
    const kept = new KeptEntries();
    let done: ShareResult | undefined;
    worker.on('message', (message: ShareMessage) => {
      if (message.kind === 'progress') onProgress(message.progress);
      else if (message.kind === 'pending') kept.add(message.json);
      else {
        if (message.kind === 'split') kept.into(message.result);
        // Given once the thread has gone, so its heap is freed before the main thread merges, not after.
        done = message;
        void worker.terminate();
      }
    });
    worker.on('error', reject);
    worker.on('exit', (code) => (done !== undefined ? resolve(done) : reject(new Error(`report thread ${request.index} exited (${code}) before it was done`))));
  });
  return { result, stop: () => void worker.terminate() };
}

/**
 * A split share read on this thread: its kept entries take the same way as a thread's (packed and parsed again, so
 * the merge sees one form), and `stop` ends its read at the next chunk when the split read is given up.
 */
function splitShareHere(request: ShareRequest): { result: Promise<ShareResult>; stop: () => void } {
  const kept = new KeptEntries();
  const stop = new AbortController();
  const result = readShare(request, undefined, (entries, repeats) => kept.add(packPending(entries, repeats)), stop.signal).then((r) => {
    if (r.kind === 'split') kept.into(r.result);
    return r;
  });
  return { result, stop: () => stop.abort() };
}

type Done = Extract<ShareResult, { kind: 'done' }>;
type SplitDone = Extract<ShareResult, { kind: 'split' }>;

/** The report of every share together: summaries merged in share order, reading figures added up. */
export function mergeShares(options: ReportOptions, done: readonly Done[]): Report {
  const builder = new ReportBuilder(options);
  for (const share of done) builder.merge(share.state);
  return builder.build(mergeShareStats(done.map((d): ShareStats => ({ stats: d.stats, orphanOrder: d.orphanOrder }))));
}

/** Every share's result; `undefined` as soon as one diverged; rejects with the first error. */
function allDone<T extends Done | SplitDone>(results: Promise<ShareResult>[]): Promise<T[] | undefined> {
  return new Promise((resolve, reject) => {
    const done: T[] = [];
    let left = results.length;
    results.forEach((result, i) => {
      result.then((r) => {
        if (r.kind === 'error') reject(errorOf(r.error));
        else if (r.kind === 'diverged') resolve(undefined);
        else {
          done[i] = r as T;
          if (--left === 0) resolve(done);
        }
      }, reject);
    });
  });
}

/**
 * The files of a split read in `count` shares of about equal size: rotated files of one log (`shadow.log`,
 * `shadow.log.1.gz`) stay in one share, where a request cut by the rotation joins without the main thread.
 */
export function splitFiles(files: readonly { path: string; bytes: number }[], count: number): number[][] {
  const groups = new Map<string, { files: number[]; bytes: number }>();
  files.forEach((file, i) => {
    const base = file.path.replace(/(\.\d+)?(\.gz)?$/, '');
    const group = groups.get(base) ?? { files: [], bytes: 0 };
    group.files.push(i);
    group.bytes += file.bytes;
    groups.set(base, group);
  });
  const shares = Array.from({ length: count }, () => ({ files: [] as number[], bytes: 0 }));
  for (const group of [...groups.values()].sort((a, b) => b.bytes - a.bytes)) {
    const least = shares.reduce((min, share) => (share.bytes < min.bytes ? share : min));
    least.files.push(...group.files);
    least.bytes += group.bytes;
  }
  return shares.filter((share) => share.files.length > 0).map((share) => share.files.sort((a, b) => a - b));
}

/** The files matched, with their sizes; `undefined` when one is not a regular file (a split read needs files). */
async function filesOf(inputs: readonly string[], cwd: string): Promise<{ path: string; bytes: number }[] | undefined> {
  const { files } = await resolveFiles(inputs, cwd);
  const sized = [];
  for (const file of files) {
    if (file.absolutePath === STDIN) return undefined;
    const info = await stat(file.absolutePath).catch(() => undefined);
    if (info === undefined || !info.isFile()) return undefined;
    sized.push({ path: file.displayPath, bytes: info.size });
  }
  return sized;
}

/** Draws the bootstrap's resamples ahead (`ReportBuilder.drawAhead`), a cell per turn of the event loop, while `waiting()`. */
function drawAheadWhile(builder: ReportBuilder, waiting: () => boolean): void {
  const next = (): void => {
    let more = false;
    try {
      more = waiting() && builder.drawAhead();
    } catch {
      // Only a head start: `build` draws whatever is not drawn.
    }
    if (more) setImmediate(next);
  };
  setImmediate(next);
}

/**
 * The report read in up to `count` shares of whole files (read/split-read.ts), or `undefined` when there are too few
 * files for it or the shares cannot prove their result is one reader's (then read in hash shares).
 */
export async function reportInSplit(inputs: string[], options: ReportOptions, readOptions: ShareReadOptions, count: number): Promise<Report | undefined> {
  const files = await filesOf(inputs, readOptions.cwd ?? process.cwd()).catch(() => undefined);
  if (files === undefined || files.length < 2) return undefined;
  const parts = splitFiles(files, count);
  if (parts.length < 2) return undefined;
  const shares: ReturnType<typeof runShare>[] = [];
  try {
    // The threads first, so they start while this thread begins its own share.
    for (let index = parts.length - 1; index >= 0; index--) {
      shares[index] = runShare({ inputs, options, readOptions, index, count: parts.length, files: parts[index] as number[] }, () => undefined);
    }
  } catch {
    for (const share of shares) share?.stop();
    return undefined;
  }
  // Each share's summary merges as it comes and is dropped, so the main thread never holds them all.
  const builder = new ReportBuilder(options);
  let left = shares.length;
  let reading = true;
  const merged = shares.map((share, index) =>
    share.result.then((result): ShareResult => {
      left--;
      if (result.kind !== 'split') return result;
      builder.merge(result.state);
      // This thread's share is done and its core free until the last thread's is: draw the verdict's bootstrap
      // there, not after.
      if (index === 0 && left > 0) drawAheadWhile(builder, () => reading && left > 0);
      return { ...result, state: { routes: [], targets: [], concerns: {} } };
    }),
  );
  try {
    let done: SplitDone[] | undefined;
    try {
      done = await allDone<SplitDone>(merged);
    } catch (error) {
      // A share that outgrew its thread's heap: read in hash shares instead. Other errors are the logs' own.
      if ((error as { code?: string }).code === 'ERR_WORKER_OUT_OF_MEMORY') return undefined;
      throw error;
    }
    if (done === undefined) return undefined;
    const join = {
      windowMs: readOptions.windowMs ?? 60_000,
      maxOpenEntries: readOptions.maxOpenEntries ?? 100_000,
      expectComparisons: readOptions.expectComparisons ?? true,
      targets: readOptions.targets,
    };
    const report = reportOfSplit(builder, join, done.map((d) => d.result));
    return typeof report === 'string' ? undefined : report;
  } finally {
    reading = false;
    for (const share of shares) share.stop();
  }
}

/**
 * The report read in `count` shares, or `undefined` when a share found the logs do not suit shares (then read them
 * with one thread).
 */
export async function reportInShares(
  inputs: string[],
  options: ReportOptions,
  readOptions: ShareReadOptions,
  count: number,
  onProgress: ((progress: ReadProgress) => void) | undefined,
): Promise<Report | undefined> {
  const latest: ReadProgress[] = [];
  const progress = (index: number) => (p: ReadProgress) => {
    latest[index] = p;
    onProgress?.({
      bytesRead: Math.min(...latest.map((l) => l?.bytesRead ?? 0)),
      bytesTotal: p.bytesTotal,
      lines: latest.reduce((sum, l) => sum + (l?.lines ?? 0), 0),
      records: latest.reduce((sum, l) => sum + (l?.records ?? 0), 0),
    });
  };
  const shareOptions = { ...readOptions, progressEvery: onProgress === undefined ? Number.MAX_SAFE_INTEGER : readOptions.progressEvery };
  let shares: ReturnType<typeof runShare>[];
  try {
    shares = Array.from({ length: count }, (_, index) => runShare({ inputs, options, readOptions: shareOptions, index, count }, progress(index)));
  } catch {
    // No threads here (a permission model without --allow-worker, a thread limit): one thread reads.
    return undefined;
  }
  try {
    const done = await allDone<Done>(shares.map((s) => s.result));
    if (done === undefined) return undefined;
    const report = mergeShares(options, done);
    const bytes = report.reading?.files.reduce((sum, f) => sum + f.bytes, 0) ?? 0;
    onProgress?.({ bytesRead: bytes, bytesTotal: bytes, lines: report.reading?.lines ?? 0, records: report.reading?.records ?? 0 });
    return report;
  } finally {
    for (const share of shares) share.stop();
  }
}
