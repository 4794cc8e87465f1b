/**
 * Where records go. A log file is opened on the first record, shared by every sink of this thread that names the
 * same path (one descriptor, however many middleware instances), and closed by the last of them. Nothing here throws
 * at the caller or grows without bound: write errors, a slow disk and a throwing logger become counted drops.
 */
import { accessSync, constants, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { ShadowOptionsError, showValue } from '../errors.js';
import type { RecordSink } from './sink-types.js';
import { LogFile, type FileSinkOptions } from './log-file.js';
import { withTimeout } from '../timeout.js';

export { appLoggerSink, validateLogger } from './app-logger-sink.js';
export type { FileSinkOptions } from './log-file.js';
export { DEFAULT_MAX_PENDING_LOG_BYTES } from './sink-types.js';
export type { RecordSink } from './sink-types.js';

/** Log files open in this thread, by absolute path. */
const openFiles = new Map<string, LogFile>();

export function openFileSink(path: string, options: FileSinkOptions = {}): RecordSink {
  const key = resolve(path);
  let file = openFiles.get(key);
  if (!file) {
    file = new LogFile(key, options);
    openFiles.set(key, file);
  }
  const shared = file;
  shared.refs++;
  let released: Promise<void> | undefined;
  return {
    write(record) {
      if (released) shared.drop('closed');
      else shared.write(record);
    },
    reopen: () => shared.reopen(),
    flush: () => shared.flush(),
    close(timeoutMs) {
      released ??= withTimeout(release(shared), timeoutMs).then(() => {});
      return released;
    },
    stats: () => shared.stats(),
  };
}

function release(file: LogFile): Promise<void> {
  file.refs--;
  if (file.refs > 0) return file.flush();
  if (openFiles.get(file.path) === file) openFiles.delete(file.path);
  return file.shutdown();
}

/**
 * Checks at construction what would otherwise surface only as a dropped record: the directory must exist (we never
 * create one), the path must not be a directory, and the file (or the directory, for a new file) must be writable.
 */
export function checkLogFile(path: string): void {
  const absolute = resolve(path);
  const directory = dirname(absolute);
  const dir = statSync(directory, { throwIfNoEntry: false });
  if (!dir) throw new ShadowOptionsError('logFile', `names a file in ${showValue(directory)}, which does not exist; create the directory first (got ${showValue(path)})`);
  if (!dir.isDirectory()) throw new ShadowOptionsError('logFile', `names a file in ${showValue(directory)}, which is not a directory (got ${showValue(path)})`);
  const file = statSync(absolute, { throwIfNoEntry: false });
  if (file?.isDirectory()) throw new ShadowOptionsError('logFile', `must name a file, but ${showValue(path)} is a directory; for example ${showValue(`${path.replace(/\/+$/, '')}/shadow.log`)}`);
  try {
    accessSync(file ? absolute : directory, constants.W_OK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    throw new ShadowOptionsError('logFile', `cannot be written (${code}): ${showValue(file ? absolute : directory)} does not let this process write (got ${showValue(path)})`);
  }
}
