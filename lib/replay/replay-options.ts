/**
 * Validation and defaults of `replayShadowLog` options, done once before anything is read or sent. The engine's
 * own option resolution builds the target, breaker, comparator and secret rules, so a replay masks, compares and
 * refuses URLs exactly as the middleware does.
 */
import { closestName } from '../did-you-mean.js';
import { ShadowOptionsError, showValue } from '../errors.js';
import { droppedHeaderSet } from '../engine/headers.js';
import type { NameMatcher } from '../engine/credentials.js';
import { resolveOptions, type ResolvedOptions } from '../engine/config.js';
import type { HeaderMap } from '../types.js';
import type { ReplayOptions, ReplayTransformRequest } from './types.js';


const KNOWN_KEYS = [
  'target', 'name', 'out', 'concurrency', 'maxBytesInFlight', 'rate', 'speed', 'route', 'since', 'until', 'sample', 'limit', 'timeoutMs',
  'headers', 'methods', 'transformRequest', 'assemble', 'compare', 'breaker', 'maxShadowResponseBytes', 'dryRun', 'resume', 'signal', 'onOutcome',
  'onProgress', 'windowMs', 'cwd',
];

export interface ReplaySettings {
  engine: ResolvedOptions;
  name: string;
  out: string | undefined;
  concurrency: number;
  maxBytesInFlight: number;
  rate: number | undefined;
  speed: number | undefined;
  route: string | undefined;
  sinceMs: number | undefined;
  untilMs: number | undefined;
  sample: number;
  limit: number | undefined;
  headers: HeaderMap;
  /** Methods replayed; `null`: every method the log holds, which the middleware mirrored live already. */
  methods: ReadonlySet<string> | null;
  dropped: NameMatcher;
  transformRequest: ReplayTransformRequest | string | undefined;
  assemble: ((events: string[]) => string) | string | undefined;
  dryRun: boolean;
  resume: boolean;
  windowMs: number | undefined;
  cwd: string;
}

export function resolveReplayOptions(input: ReplayOptions): ReplaySettings {
  if (input === null || typeof input !== 'object') {
    throw new TypeError(`express-shadow: replayShadowLog(paths, options) needs an options object like { target: 'http://127.0.0.1:9003', out: 'replay.log' }, got ${showValue(input)}`);
  }
  for (const key of Object.keys(input)) {
    if (KNOWN_KEYS.includes(key)) continue;
    const best = closestName(key, KNOWN_KEYS);
    throw new ShadowOptionsError(key, `is not a replay option.${best === undefined ? '' : ` Did you mean \`${best}\`?`}`);
  }
  const dryRun = input.dryRun === true;
  if (input.out === undefined && !dryRun) throw new ShadowOptionsError('out', `is required (the file the replay's records are appended to), unless \`dryRun\` is set`);
  if (input.out !== undefined && (typeof input.out !== 'string' || input.out === '')) throw new ShadowOptionsError('out', `must be a file path, got ${showValue(input.out)}`);
  const concurrency = positiveInteger('concurrency', input.concurrency, 16);
  const failureThreshold = positiveInteger('breaker.failureThreshold', input.breaker?.failureThreshold, 5);
  const engine = resolveOptions({
    target: input.target,
    ...(input.name !== undefined ? { name: input.name } : {}),
    timeoutMs: input.timeoutMs ?? 5000,
    maxConcurrent: concurrency,
    ...(input.maxShadowResponseBytes !== undefined ? { maxShadowResponseBytes: input.maxShadowResponseBytes } : {}),
    compare: input.compare ?? {},
    // The replay stops when it opens, so its cooldown never elapses.
    breaker: { failureThreshold, cooldownMs: 2 ** 31 - 1 },
  });
  const target = engine.targets[0]!;
  if (target.endpoint.kind !== 'url') throw new ShadowOptionsError('target', `must be a URL for a replay`);
  const transformRequest = input.transformRequest;
  if (transformRequest !== undefined && typeof transformRequest !== 'function' && (typeof transformRequest !== 'string' || transformRequest === '')) {
    throw new ShadowOptionsError('transformRequest', `must be a function or the path of a module exporting one, got ${showValue(transformRequest)}`);
  }
  const assemble = input.assemble;
  if (assemble !== undefined && typeof assemble !== 'function' && (typeof assemble !== 'string' || assemble === '')) {
    throw new ShadowOptionsError('assemble', `must be a function or the path of a module exporting one, got ${showValue(assemble)}`);
  }
  const sinceMs = isoTime('since', input.since);
  const untilMs = isoTime('until', input.until);
  if (sinceMs !== undefined && untilMs !== undefined && sinceMs >= untilMs) throw new ShadowOptionsError('since', `must be before \`until\`, got ${showValue(input.since)} and ${showValue(input.until)}`);
  return {
    engine,
    name: target.name,
    out: input.out,
    concurrency,
    maxBytesInFlight: positiveInteger('maxBytesInFlight', input.maxBytesInFlight, 64 * 1_048_576),
    rate: positiveNumber('rate', input.rate),
    speed: positiveNumber('speed', input.speed),
    route: optionalString('route', input.route),
    sinceMs,
    untilMs,
    sample: ratio('sample', input.sample),
    limit: input.limit === undefined ? undefined : positiveInteger('limit', input.limit, 1),
    headers: headerMap(input.headers),
    methods: methodSet(input.methods),
    dropped: droppedHeaderSet(engine.secrets.withheldHeaders, engine.stripHeaders),
    transformRequest,
    assemble,
    dryRun,
    resume: input.resume === true,
    windowMs: input.windowMs === undefined ? undefined : positiveInteger('windowMs', input.windowMs, 1),
    cwd: optionalString('cwd', input.cwd) ?? process.cwd(),
  };
}

function positiveInteger(option: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) throw new ShadowOptionsError(option, `must be a positive whole number, got ${showValue(value)}`);
  return value;
}

function positiveNumber(option: string, value: unknown): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) throw new ShadowOptionsError(option, `must be a positive number, got ${showValue(value)}`);
  return value;
}

function ratio(option: string, value: unknown): number {
  if (value === undefined) return 1;
  if (typeof value !== 'number' || !(value >= 0 && value <= 1)) throw new ShadowOptionsError(option, `must be a number from 0 to 1 (0.1 replays a tenth), got ${showValue(value)}`);
  return value;
}

function optionalString(option: string, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value === '') throw new ShadowOptionsError(option, `must be a non-empty string, got ${showValue(value)}`);
  return value;
}

function isoTime(option: string, value: unknown): number | undefined {
  if (value === undefined) return undefined;
  const time = typeof value === 'string' && /^\d{4}-\d{2}-\d{2}/.test(value) ? Date.parse(value) : NaN;
  if (Number.isNaN(time)) throw new ShadowOptionsError(option, `must be an ISO 8601 time like '2024-05-01T10:00:00Z', got ${showValue(value)}`);
  return time;
}

function headerMap(value: unknown): HeaderMap {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ShadowOptionsError('headers', `must be an object like { authorization: 'Bearer …' }, got ${showValue(value)}`);
  const headers: HeaderMap = {};
  for (const [name, item] of Object.entries(value)) {
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) throw new ShadowOptionsError('headers', `has an invalid header name ${showValue(name)}`);
    if (typeof item !== 'string' && !(Array.isArray(item) && item.every((v) => typeof v === 'string'))) {
      throw new ShadowOptionsError(`headers.${name}`, `must be a string, got ${showValue(item)}`);
    }
    headers[name.toLowerCase()] = item;
  }
  return headers;
}

function methodSet(value: unknown): ReadonlySet<string> | null {
  if (value === undefined) return null;
  if (!Array.isArray(value) || value.length === 0 || !value.every((m) => typeof m === 'string' && /^[A-Za-z]+$/.test(m))) {
    throw new ShadowOptionsError('methods', `must be a non-empty list of method names like ['GET', 'POST'], got ${showValue(value)}`);
  }
  return new Set(value.map((m: string) => m.toUpperCase()));
}
