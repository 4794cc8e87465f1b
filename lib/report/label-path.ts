/**
 * The small JSON path dialect of `--label-path`: `$`, `.name`, `[0]`, `["name"]` / `['name']`.
 * Compiled once; evaluation is a walk over the steps.
 */

export type PathStep = string | number;

/** Parses `$.a.b[0]`; throws a `TypeError` saying what is wrong. */
export function compileLabelPath(path: string): PathStep[] {
  if (typeof path !== 'string' || !path.startsWith('$')) {
    throw new TypeError(`Label path must start with "$", like "$.label" or "$.predictions[0].class"; got ${JSON.stringify(path)}.`);
  }
  const steps: PathStep[] = [];
  let i = 1;
  const fail = (why: string): never => {
    throw new TypeError(`Label path ${JSON.stringify(path)}: ${why} at character ${i + 1}. Example: "$.predictions[0].class".`);
  };
  while (i < path.length) {
    const c = path[i];
    if (c === '.') {
      const match = /^[A-Za-z_$][\w$-]*/.exec(path.slice(i + 1));
      if (match === null) fail('expected a name after "."');
      const name = (match as RegExpExecArray)[0];
      steps.push(name);
      i += 1 + name.length;
    } else if (c === '[') {
      const rest = path.slice(i);
      const index = /^\[(\d+)\]/.exec(rest);
      const quoted = /^\[(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')\]/.exec(rest);
      if (index !== null) {
        steps.push(Number(index[1]));
        i += index[0].length;
      } else if (quoted !== null) {
        steps.push((quoted[1] ?? quoted[2] ?? '').replace(/\\(.)/g, '$1'));
        i += quoted[0].length;
      } else {
        fail('expected [number] or ["name"]');
      }
    } else {
      fail(`unexpected ${JSON.stringify(c)}`);
    }
  }
  return steps;
}

/** The value at `steps` in `value`, or `undefined` when the path does not exist. */
export function evaluatePath(value: unknown, steps: readonly PathStep[]): unknown {
  let current = value;
  for (const step of steps) {
    if (typeof step === 'number') {
      if (!Array.isArray(current)) return undefined;
      current = current[step];
    } else {
      if (typeof current !== 'object' || current === null || Array.isArray(current)) return undefined;
      if (!Object.prototype.hasOwnProperty.call(current, step)) return undefined;
      current = (current as Record<string, unknown>)[step];
    }
  }
  return current;
}
