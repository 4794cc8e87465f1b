/**
 * What both commands share: their arguments parsed by `util.parseArgs` with a "did you mean" for a misspelt flag,
 * the parsers of flag values (durations, times, numbers, ratios), usage errors and how a failure is written. A usage
 * error always exits with 2, and is printed with the command's `--help` hint.
 */
import { readFileSync } from 'node:fs';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { closestName } from '../did-you-mean.js';

export const NAME = 'express-shadow';

/** The exit codes both commands give the same meaning (each command adds its own; see their `--help`). */
export const SharedExitCode = { ok: 0, badArguments: 2, unreadable: 3 } as const;

/** A bad flag or flag value: printed with the `--help` hint, exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

type Options = NonNullable<ParseArgsConfig['options']>;
type Parsed<T extends Options> = ReturnType<typeof parseArgs<{ args: string[]; options: T; allowPositionals: true; strict: true }>>;

/** `util.parseArgs`, strict, with positionals; an unknown flag becomes a usage error with a "did you mean". */
export function parseCommandArgs<const T extends Options>(args: string[], options: T): Parsed<T> {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (err) {
    const e = err as Error & { code?: string };
    const option = /'(-[^']*)'/.exec(e.message)?.[1];
    if (e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && option !== undefined) {
      const best = closestName(option.replace(/^-+/, '').split('=')[0] ?? '', Object.keys(options));
      throw new UsageError(`Unknown option ${option}.${best === undefined ? '' : ` Did you mean --${best}?`}`);
    }
    throw new UsageError(e.message);
  }
}

/** Writes `express-shadow: <message>` on stderr and returns the exit code. */
export function fail(message: string, code: number): number {
  process.stderr.write(`${NAME}: ${message}\n`);
  return code;
}

/**
 * How each command starts: its arguments parsed by `parse`. A usage error is written with the hint to
 * `<command> --help` and gives exit code 2; `'help'` prints `help` and gives 0. Otherwise the parsed command.
 */
export function parseCommand<T>(command: string, parse: () => T | 'help', help: string): T | number {
  let parsed: T | 'help';
  try {
    parsed = parse();
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    return fail(`${err.message}\nRun "${NAME} ${command} --help" for usage.`, SharedExitCode.badArguments);
  }
  if (parsed !== 'help') return parsed;
  process.stdout.write(help);
  return SharedExitCode.ok;
}

/** What `check` returns; an error it throws becomes a usage error, its message after `prefix`. */
export function asUsage<T>(check: () => T, prefix = ''): T {
  try {
    return check();
  } catch (err) {
    throw new UsageError(`${prefix}${(err as Error).message}`);
  }
}

export function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
  return pkg.version ?? 'unknown';
}

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|min|h|d)$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1e3, m: 60e3, min: 60e3, h: 3600e3, d: 86400e3 };

/** `500ms`, `30s`, `5m`, `2h`, `7d` in milliseconds; `examples` are shown when the value is not one. */
export function parseDuration(option: string, value: string, examples = '30s, 5m, 2h or 7d'): number {
  const match = DURATION.exec(value.trim());
  const ms = match === null ? NaN : Number(match[1]) * (UNIT_MS[match[2] as string] as number);
  if (!Number.isFinite(ms)) throw new UsageError(`--${option} must be a duration like ${examples}; got ${JSON.stringify(value)}.`);
  return ms;
}

/** An ISO time, or a duration ago from `now`, as an ISO time. */
export function parseTime(option: string, value: string, now: number): string {
  if (DURATION.test(value.trim())) return new Date(now - parseDuration(option, value)).toISOString();
  const time = /^\d{4}-\d{2}-\d{2}/.test(value) ? Date.parse(value) : NaN;
  if (Number.isNaN(time)) {
    throw new UsageError(`--${option} must be an ISO time like 2024-05-01T10:00:00Z, or a duration ago like 2h; got ${JSON.stringify(value)}.`);
  }
  return new Date(time).toISOString();
}

/** A finite number that passes `check`; `what` says what would be right. */
export function parseNumber(option: string, value: string, check: (n: number) => boolean = () => true, what = 'a number'): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || !check(n)) throw new UsageError(`--${option} must be ${what}; got ${JSON.stringify(value)}.`);
  return n;
}

export function parsePositiveInteger(option: string, value: string): number {
  return parseNumber(option, value, (n) => Number.isInteger(n) && n > 0, 'a positive whole number');
}

/** `0.99` or `99%`. */
export function parseRatio(option: string, value: string): number {
  const percent = value.trim().endsWith('%');
  const n = Number(percent ? value.trim().slice(0, -1) : value);
  const ratio = percent ? n / 100 : n;
  if (value.trim() === '' || !Number.isFinite(ratio) || ratio < 0 || ratio > 1) {
    throw new UsageError(`--${option} must be a ratio between 0 and 1 (like 0.99) or a percentage (like 99%); got ${JSON.stringify(value)}.`);
  }
  return ratio;
}
