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

/** A path segment that is a plain name in a glob: none of the characters that match, group or escape. */
const PLAIN_SEGMENT = /^[^*?[\]{}()!+@|\\]*$/;

/**
 * Where to match a glob from: an absolute pattern from its leading plain directories, not from `cwd`. tinyglobby walks
 * from the directory common to the pattern and its cwd (`/` for a pattern outside cwd) and lists every directory on
 * the way: a glob of 4 files under a /tmp of 16,000 entries took 214 ms from the package's directory against 4 ms from
 * /tmp (and the report resolves its inputs once per thread, and twice before it starts them).
 */
export function globRoot(pattern: string, cwd: string): { pattern: string; cwd: string } {
  if (!isAbsolute(pattern)) return { pattern, cwd };
  const segments = pattern.split('/');
  let plain = 0;
  while (plain < segments.length - 1 && PLAIN_SEGMENT.test(segments[plain] as string)) plain++;
  if (plain === 0) return { pattern, cwd };
  return { pattern: segments.slice(plain).join('/'), cwd: resolve(segments.slice(0, plain).join('/') || '/') };
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
    const root = globRoot(input, cwd);
    const matches = await glob(root.pattern, { cwd: root.cwd, absolute: true, onlyFiles: true, expandDirectories: false, dot: true });
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
