/**
 * Expands the paths and globs given to the reader into a sorted, de-duplicated list of files.
 * A name that exists is taken literally (log names may contain glob characters); otherwise it is a glob if it looks like one.
 * `-` is standard input.
 */
import { stat } from 'node:fs/promises';
import { isAbsolute, relative, resolve } from 'node:path';
import { ShadowLogReadError } from './types.js';

/** `absolutePath` of standard input. */
export const STDIN = '-';

export interface ResolvedFile {
  absolutePath: string;
  /** As the user would recognise it: relative to cwd when the input was relative. */
  displayPath: string;
}

export async function resolveFiles(
  inputs: readonly string[],
  cwd: string,
): Promise<{ files: ResolvedFile[]; unmatchedPatterns: string[] }> {
  const byPath = new Map<string, ResolvedFile>();
  const unmatchedPatterns: string[] = [];
  // Loaded here, not with the package: the app that only mounts the middleware never needs it (about 1 MB of RSS).
  const { glob, isDynamicPattern } = await import('tinyglobby');
  for (const input of inputs) {
    if (input === STDIN) {
      byPath.set(STDIN, { absolutePath: STDIN, displayPath: STDIN });
      continue;
    }
    const absolutePath = resolve(cwd, input);
    const exists = await stat(absolutePath).then(
      () => true,
      () => false,
    );
    if (exists || !isDynamicPattern(input)) {
      // A missing literal path is reported when it is opened, with the system's reason.
      byPath.set(absolutePath, { absolutePath, displayPath: input });
      continue;
    }
    const matches = await glob(input, { cwd, absolute: true, onlyFiles: true, expandDirectories: false, dot: true });
    if (matches.length === 0) unmatchedPatterns.push(input);
    for (const match of matches) {
      const path = resolve(match);
      if (!byPath.has(path)) {
        byPath.set(path, { absolutePath: path, displayPath: isAbsolute(input) ? path : relative(cwd, path) });
      }
    }
  }
  if (byPath.size === 0) {
    throw new ShadowLogReadError(
      'ERR_SHADOW_LOG_NO_FILES',
      inputs.length === 0 ? 'No log files given.' : `No log files matched ${inputs.map((i) => JSON.stringify(i)).join(', ')}.`,
      inputs[0],
    );
  }
  const files = [...byPath.values()].sort((a, b) => (a.displayPath < b.displayPath ? -1 : a.displayPath > b.displayPath ? 1 : 0));
  return { files, unmatchedPatterns };
}
