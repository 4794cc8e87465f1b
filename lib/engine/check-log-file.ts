/**
 * The `logFile` option checked against the file system when the middleware is made, on the app's thread: a leaf,
 * so that checking a path does not load the log writer (winston and the rest stay in the engine's worker).
 */
import { accessSync, constants, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { ShadowOptionsError, showValue } from '../errors.js';

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
