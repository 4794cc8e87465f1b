/**
 * Where records go. A log file is opened on the first record, shared by every sink of this thread that names the
 * same path (one descriptor, however many middleware instances), and closed by the last of them. Nothing here throws
 * at the caller or grows without bound: write errors, a slow disk and a throwing logger become counted drops.
 */
import { resolve } from 'node:path';
import type { RecordSink } from './sink-types.js';
import { LogFile, type FileSinkOptions } from './log-file.js';
import { withTimeout } from '../timeout.js';


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
    hurry: () => shared.hurry(),
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
