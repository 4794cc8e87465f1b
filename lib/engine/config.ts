/**
 * Option validation and defaulting: done once, when `shadowMiddleware(options)` is called, never per request.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { resolve as resolvePath } from 'node:path';
import { closestName } from '../did-you-mean.js';
import type { PathPattern } from '../json-path.js';
import { ShadowOptionsError, showValue } from '../errors.js';
import { compileOptionPath, nonNegativeInteger, optionalBoolean, optionalFunction, optionalString, positiveInteger, rejectUnknownKeys, stringList, validateSampleRate } from '../options.js';
import { createComparator } from './compare.js';
import { resolveJudging, type ResolvedJudging } from './judging-options.js';
import type { ResolvedBreaker } from './breaker.js';
import { validateLogger } from './app-logger-sink.js';
import { DEFAULT_MAX_PENDING_LOG_BYTES } from './sink-types.js';
import type { ComparedAnswer, Comparator, ShadowRequest, ShadowRequestChange, ShadowTargetFunction } from '../types.js';
import { parseTarget, type ParsedTarget } from './target-url.js';
import type { HeaderLogPolicy } from './headers.js';
import {
  createNameMatcher,
  eitherMatcher,
  forwardedMatcher,
  isCredentialHeaderName,
  isCredentialParamName,
  matcherOf,
  withheldMatcher,
  type NameListChanges,
  type NameMatcher,
} from './credentials.js';
import { createBodyRules, DEFAULT_REDACT_PATHS, type BodyRules } from './redact-body.js';
import { createTextMasker, scalarMasker, VALUE_KINDS, type TextMasker, type ValueKind } from './redact-values.js';

/** What the log and the shadow may see, decided once from the secrets options (docs/secrets.md). */
interface SecretRules {
  /** Request headers not sent to the shadow because they carry credentials (the default rules minus those forwarded). */
  withheldHeaders: NameMatcher;
  /** Header names logged as `[REDACTED]`, request and answers. */
  redactHeaders: NameMatcher;
  /** Query parameters masked in logged paths. */
  redactQuery: NameMatcher;
  /** Query parameters removed from the shadow's request-target. */
  withheldQuery: NameMatcher;
  /** Compiled `redact` paths, defaults included. */
  redactPaths: PathPattern[];
  /** Everything bodies need: paths, secret form fields, value masking, the byte cap. */
  bodies: BodyRules;
  /** Value masking of text (`redactValues`), `undefined` when off. */
  maskText: TextMasker | undefined;
  /** Which sides' bodies the log holds. */
  logBodies: { request: boolean; response: boolean };
}

/** A shadow target after validation. */
export interface ResolvedTarget {
  name: string;
  role: 'candidate' | 'secondary';
  /** Where calls go: a URL (host fixed by configuration) or the user's function. */
  endpoint: { kind: 'url'; url: ParsedTarget } | { kind: 'function'; call: ShadowTargetFunction };
  /** Own sample rate, or `undefined` to follow the top-level one (which `update()` changes). */
  sampleRate: number | undefined;
  breaker: ResolvedBreaker;
  transformRequest: ((request: ShadowRequest) => ShadowRequestChange | Promise<ShadowRequestChange>) | undefined;
  transformResponse: ((answer: ComparedAnswer) => ComparedAnswer) | undefined;
}

/** Options after validation, with every default filled in. */
export interface ResolvedOptions {
  targets: ResolvedTarget[];
  assemble: ((events: string[]) => string) | undefined;
  logFile: string;
  /** The app's logger (winston, pino or a `{ write(record) }` object), checked by shape. */
  logger: unknown;
  maxPendingLogBytes: number;
  sampleRate: number;
  sampleBy: ((req: IncomingMessage) => string) | undefined;
  filter: ((req: IncomingMessage) => boolean) | undefined;
  methods: ReadonlySet<string> | undefined;
  mirrorIf: ((req: IncomingMessage, res: ServerResponse) => boolean) | undefined;
  timeoutMs: number;
  maxBodyBytes: number;
  maxLoggedBodyBytes: number;
  maxShadowResponseBytes: number;
  maxConcurrent: number;
  maxQueue: number;
  maxQueuedBytes: number;
  stripHeaders: ReadonlySet<string>;
  logHeaders: HeaderLogPolicy;
  secrets: SecretRules;
  summaryIntervalMs: number;
  comparator: Comparator | undefined;
  /** The `embed` and `judge` hooks with their bounds; `undefined` when neither is set. */
  judging: ResolvedJudging | undefined;
  enabled: boolean;
  /** Where the engine runs: `undefined` lets the hooks decide (worker when they can cross threads). */
  engine: 'worker' | 'in-thread' | undefined;
  maxQueueWaitMs: number;
  requestId: ((req: IncomingMessage) => unknown) | undefined;
  requestIdHeader: string;
  resLocals: boolean;
  reopenOnSignal: NodeJS.Signals | false;
  dnsServers: string[] | undefined;
  /** Bytes of a request body kept raw for replay; 0 when `logRequestBodies` is not `'replayable'`. */
  maxReplayableBodyBytes: number;
  /** New exchanges are shed while the engine's loop runs more than this far behind. */
  maxEngineLagMs: number;
  /** How long a hook may run in the engine's worker before the worker is restarted and the exchange logged `hook_timeout`. */
  hookTimeoutMs: number;
}

const KNOWN_OPTIONS = [
  'target', 'name', 'targets', 'secondary', 'assemble', 'transformRequest', 'transformResponse', 'logFile', 'logger', 'sampleRate', 'sampleBy', 'filter', 'methods', 'mirrorIf', 'timeoutMs',
  'maxBodyBytes', 'maxLoggedBodyBytes', 'maxShadowResponseBytes', 'maxConcurrent', 'maxQueue', 'maxQueuedBytes', 'maxPendingLogBytes',
  'forwardCredentials', 'stripHeaders', 'redactHeaders', 'redactQuery', 'redactValues', 'logBodies', 'logHeaders', 'redact', 'breaker', 'summaryIntervalMs', 'compare', 'enabled',
  'embed', 'judge', 'judgeSampleRate', 'judgeLimits',
  'engine', 'maxQueueWaitMs', 'requestId', 'requestIdHeader', 'resLocals', 'reopenOnSignal', 'dnsServers', 'logRequestBodies', 'maxReplayableBodyBytes',
  'maxEngineLagMs', 'hookTimeoutMs',
] as const;

const KNOWN_BREAKER_OPTIONS = ['failureThreshold', 'cooldownMs', 'isFailure'] as const;
const KNOWN_TARGET_OPTIONS = ['name', 'url', 'target', 'sampleRate', 'breaker', 'transformRequest', 'transformResponse'] as const;

/** Connection errors, timeouts and 5xx open the breaker. */
function defaultIsFailure(outcome: { status?: number; errorCode?: string }): boolean {
  return outcome.errorCode !== undefined || (outcome.status !== undefined && outcome.status >= 500);
}

export function resolveOptions(input: unknown): ResolvedOptions {
  if (input === undefined || input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw new TypeError(
      `express-shadow: shadowMiddleware(options) needs an options object, got ${showValue(input)}. ` +
        `Example: shadowMiddleware({ target: 'http://127.0.0.1:9000' })`,
    );
  }
  const options = input as Record<string, unknown>;
  rejectUnknownKeys(options, KNOWN_OPTIONS, '');

  const breakerDefaults = resolveBreaker(options.breaker, 'breaker', undefined);
  const topBehaviour = {
    transformRequest: optionalFunction<ResolvedTarget['transformRequest']>(options, 'transformRequest'),
    transformResponse: optionalFunction<ResolvedTarget['transformResponse']>(options, 'transformResponse'),
  };
  const targets = resolveTargets(options, breakerDefaults, topBehaviour);
  const logger = options.logger;
  if (logger !== undefined) validateLogger(logger);
  for (const fileOption of ['logFile', 'maxPendingLogBytes'] as const) {
    if (logger !== undefined && options[fileOption] !== undefined) {
      throw new ShadowOptionsError(fileOption, `cannot be combined with \`logger\`: records go to the logger you pass`);
    }
  }

  return {
    targets,
    assemble: optionalFunction(options, 'assemble'),
    // Resolved here, once: a later process.chdir() must not move the log (the file opens on the first record).
    logFile: resolvePath(optionalString(options, 'logFile') ?? 'shadow.log'),
    logger,
    maxPendingLogBytes: positiveInteger('maxPendingLogBytes', options.maxPendingLogBytes ?? DEFAULT_MAX_PENDING_LOG_BYTES),
    sampleRate: validateSampleRate('sampleRate', options.sampleRate ?? 1),
    sampleBy: optionalFunction(options, 'sampleBy'),
    filter: optionalFunction(options, 'filter'),
    methods: options.methods === undefined ? undefined : new Set(stringList(options, 'methods').map((m) => m.toUpperCase())),
    mirrorIf: optionalFunction(options, 'mirrorIf'),
    timeoutMs: positiveInteger('timeoutMs', options.timeoutMs ?? 5000),
    maxBodyBytes: nonNegativeInteger('maxBodyBytes', options.maxBodyBytes ?? 1_048_576),
    maxLoggedBodyBytes: nonNegativeInteger('maxLoggedBodyBytes', options.maxLoggedBodyBytes ?? 65_536),
    maxShadowResponseBytes: nonNegativeInteger('maxShadowResponseBytes', options.maxShadowResponseBytes ?? 1_048_576),
    maxConcurrent: positiveInteger('maxConcurrent', options.maxConcurrent ?? 32),
    maxQueue: nonNegativeInteger('maxQueue', options.maxQueue ?? 1000),
    maxQueuedBytes: nonNegativeInteger('maxQueuedBytes', options.maxQueuedBytes ?? 64 * 1_048_576),
    stripHeaders: new Set(stringList(options, 'stripHeaders').map((h) => h.toLowerCase())),
    logHeaders: resolveLogHeaders(options.logHeaders),
    secrets: resolveSecrets(options, nonNegativeInteger('maxLoggedBodyBytes', options.maxLoggedBodyBytes ?? 65_536)),
    summaryIntervalMs: nonNegativeInteger('summaryIntervalMs', options.summaryIntervalMs ?? 60_000),
    comparator: resolveComparator(options.compare),
    judging: resolveJudging(options, nonNegativeInteger('summaryIntervalMs', options.summaryIntervalMs ?? 60_000)),
    enabled: optionalBoolean(options, 'enabled') ?? true,
    engine: resolveEngine(options.engine),
    maxQueueWaitMs: positiveInteger('maxQueueWaitMs', options.maxQueueWaitMs ?? 30_000),
    requestId: optionalFunction(options, 'requestId'),
    requestIdHeader: (optionalString(options, 'requestIdHeader') ?? 'x-request-id').toLowerCase(),
    resLocals: optionalBoolean(options, 'resLocals') ?? false,
    reopenOnSignal: resolveReopenSignal(options.reopenOnSignal),
    dnsServers: options.dnsServers === undefined ? undefined : stringList(options, 'dnsServers'),
    maxReplayableBodyBytes: resolveReplayable(options),
    maxEngineLagMs: positiveInteger('maxEngineLagMs', options.maxEngineLagMs ?? 5),
    hookTimeoutMs: positiveInteger('hookTimeoutMs', options.hookTimeoutMs ?? 1000),
  };
}

function resolveReplayable(options: Record<string, unknown>): number {
  const mode = options.logRequestBodies;
  if (mode !== undefined && mode !== 'replayable') {
    throw new ShadowOptionsError('logRequestBodies', `must be 'replayable' (or left out), got ${showValue(mode)}`);
  }
  const cap = nonNegativeInteger('maxReplayableBodyBytes', options.maxReplayableBodyBytes ?? 1_048_576);
  if (mode === undefined && options.maxReplayableBodyBytes !== undefined) {
    throw new ShadowOptionsError('maxReplayableBodyBytes', `only applies with logRequestBodies: 'replayable'`);
  }
  return mode === 'replayable' ? cap : 0;
}

function resolveEngine(value: unknown): ResolvedOptions['engine'] {
  if (value === undefined || value === 'worker' || value === 'in-thread') return value;
  throw new ShadowOptionsError('engine', `must be 'worker' or 'in-thread', got ${showValue(value)}`);
}

function resolveReopenSignal(value: unknown): NodeJS.Signals | false {
  if (value === undefined) return 'SIGHUP';
  if (value === false) return false;
  if (typeof value === 'string' && /^SIG[A-Z0-9]+$/.test(value) && value !== 'SIGKILL' && value !== 'SIGSTOP') return value as NodeJS.Signals;
  throw new ShadowOptionsError('reopenOnSignal', `must be a signal name like 'SIGHUP' or false, got ${showValue(value)}`);
}

function resolveBreaker(value: unknown, option: string, defaults: ResolvedBreaker | undefined): ResolvedBreaker {
  const input = value ?? {};
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new ShadowOptionsError(option, `must be an object like { failureThreshold: 5, cooldownMs: 30000 }, got ${showValue(input)}`);
  }
  const breaker = input as Record<string, unknown>;
  rejectUnknownKeys(breaker, KNOWN_BREAKER_OPTIONS, `${option}.`);
  return {
    failureThreshold: positiveInteger(`${option}.failureThreshold`, breaker.failureThreshold ?? defaults?.failureThreshold ?? 5),
    cooldownMs: nonNegativeInteger(`${option}.cooldownMs`, breaker.cooldownMs ?? defaults?.cooldownMs ?? 30_000),
    isFailure: guardIsFailure(optionalFunction(breaker, 'isFailure', `${option}.`)) ?? defaults?.isFailure ?? defaultIsFailure,
  };
}

type Behaviour = Pick<ResolvedTarget, 'transformRequest' | 'transformResponse'>;

/** `target` (one), `targets` (several) and `secondary` become one list; names must be unique. */
function resolveTargets(options: Record<string, unknown>, breaker: ResolvedBreaker, behaviour: Behaviour): ResolvedTarget[] {
  const targets: ResolvedTarget[] = [];
  if (options.target !== undefined && options.targets !== undefined) {
    throw new ShadowOptionsError('targets', 'cannot be combined with `target`: list every candidate in `targets`');
  }
  if (options.targets !== undefined) {
    if (options.name !== undefined) throw new ShadowOptionsError('name', 'names the single `target`; with `targets`, name each entry');
    if (!Array.isArray(options.targets) || options.targets.length === 0) {
      throw new ShadowOptionsError('targets', `must be a non-empty array like [{ name: 'v2', url: 'http://...' }], got ${showValue(options.targets)}`);
    }
    options.targets.forEach((entry, i) => targets.push(resolveTargetEntry(entry, `targets[${i}]`, 'candidate', breaker, behaviour)));
  } else if (options.target !== undefined) {
    targets.push(resolveTargetEntry({ name: options.name, target: options.target }, 'target', 'candidate', breaker, behaviour));
  } else {
    throw new ShadowOptionsError('target', `is required: the shadow's base URL, e.g. { target: 'http://127.0.0.1:9000' }`);
  }
  if (options.secondary !== undefined) {
    const secondary = typeof options.secondary === 'object' && options.secondary !== null ? options.secondary : { target: options.secondary };
    targets.push(resolveTargetEntry({ name: 'secondary', ...secondary }, 'secondary', 'secondary', breaker, behaviour));
  }
  const seen = new Set<string>();
  for (const target of targets) {
    if (seen.has(target.name)) throw new ShadowOptionsError('targets', `has two targets named ${showValue(target.name)}; names must be unique`);
    seen.add(target.name);
  }
  return targets;
}

function resolveTargetEntry(
  input: unknown,
  option: string,
  role: ResolvedTarget['role'],
  breaker: ResolvedBreaker,
  behaviour: Behaviour,
): ResolvedTarget {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new ShadowOptionsError(option, `must be an object like { name: 'v2', url: 'http://...' }, got ${showValue(input)}`);
  }
  const entry = input as Record<string, unknown>;
  if (option !== 'target') rejectUnknownKeys(entry, KNOWN_TARGET_OPTIONS, `${option}.`);
  const where = option === 'target' ? 'target' : `${option}.target`;
  const given = entry.url ?? entry.target;
  if (entry.url !== undefined && entry.target !== undefined) throw new ShadowOptionsError(option, 'takes `url` or `target`, not both');
  let endpoint: ResolvedTarget['endpoint'];
  let defaultName: string | undefined;
  if (typeof given === 'function') {
    endpoint = { kind: 'function', call: given as ShadowTargetFunction };
  } else {
    const url = parseTarget(given, entry.url !== undefined ? `${option}.url` : where);
    endpoint = { kind: 'url', url };
    defaultName = url.display;
  }
  const nameOption = option === 'target' ? 'name' : `${option}.name`;
  const name = entry.name === undefined ? defaultName : entry.name;
  if (typeof name !== 'string' || name.length === 0) {
    throw new ShadowOptionsError(nameOption, `is required for a function target (it names the target in records), got ${showValue(name)}`);
  }
  return {
    name,
    role,
    endpoint,
    sampleRate: entry.sampleRate === undefined ? undefined : validateSampleRate(`${option}.sampleRate`, entry.sampleRate),
    breaker: entry.breaker === undefined ? breaker : resolveBreaker(entry.breaker, `${option}.breaker`, breaker),
    transformRequest: optionalFunction(entry, 'transformRequest', `${option}.`) ?? behaviour.transformRequest,
    transformResponse: optionalFunction(entry, 'transformResponse', `${option}.`) ?? behaviour.transformResponse,
  };
}

function resolveLogHeaders(value: unknown): HeaderLogPolicy {
  if (value === undefined || value === true) return { kind: 'all' };
  if (value === false) return { kind: 'none' };
  if (Array.isArray(value) && value.every((name) => typeof name === 'string' && name.length > 0)) {
    return { kind: 'only', names: new Set((value as string[]).map((name) => name.toLowerCase())) };
  }
  throw new ShadowOptionsError('logHeaders', `must be true, false or an array of header names, got ${showValue(value)}`);
}

function resolveComparator(value: unknown): Comparator | undefined {
  if (value === false) return undefined;
  if (value === undefined) return createComparator({});
  if (typeof value === 'function') return value as Comparator;
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    return createComparator(value);
  }
  throw new ShadowOptionsError('compare', `must be comparator options, a function (production, shadow) => { match }, or false; got ${showValue(value)}`);
}

// ---- secrets and personal data (docs/secrets.md) ----

function resolveSecrets(options: Record<string, unknown>, maxLoggedBodyBytes: number): SecretRules {
  const forwarded = forwardedMatcher(resolveForwardCredentials(options.forwardCredentials));
  const headerChanges = nameListChanges(options, 'redactHeaders', (name) => isCredentialHeaderName(name), 'is not caught by the default header rules');
  const queryChanges = nameListChanges(options, 'redactQuery', (name) => isCredentialParamName(name), 'is not caught by the default query rules');
  const pathChanges = nameListChanges(options, 'redact', (path) => DEFAULT_REDACT_PATHS.includes(path), 'is not a default path', DEFAULT_REDACT_PATHS);
  // Headers the user adds are masked in the log only (stripHeaders keeps them from the shadow); `allow` takes names
  // out of the default rules in both directions.
  const credentialHeaders = createNameMatcher(isCredentialHeaderName, { add: [], allow: headerChanges.allow });
  const credentialParams = createNameMatcher(isCredentialParamName, queryChanges);
  const redactPaths = [
    ...DEFAULT_REDACT_PATHS.filter((path) => !pathChanges.allow.includes(path)).map((path) => compileOptionPath('redact', path, true)),
    ...pathChanges.add.map((path, i) => compileOptionPath(Array.isArray(options.redact) ? `redact[${i}]` : `redact.add[${i}]`, path)),
  ];
  const kinds = resolveRedactValues(options.redactValues);
  const maskText = createTextMasker(kinds);
  const maskScalar = maskText ? scalarMasker(maskText, kinds) : undefined;
  return {
    withheldHeaders: withheldMatcher(credentialHeaders, forwarded),
    redactHeaders: eitherMatcher(credentialHeaders, matcherOf(headerChanges.add)),
    redactQuery: credentialParams,
    withheldQuery: withheldMatcher(credentialParams, forwarded),
    redactPaths,
    bodies: createBodyRules(redactPaths, credentialParams, maskText, maskScalar, maxLoggedBodyBytes),
    maskText,
    logBodies: resolveLogBodies(options.logBodies),
  };
}

function resolveForwardCredentials(value: unknown): boolean | string[] {
  if (value === undefined) return false;
  if (typeof value === 'boolean') return value;
  if (Array.isArray(value) && value.every((name) => typeof name === 'string' && name.length > 0)) return [...(value as string[])];
  throw new ShadowOptionsError('forwardCredentials', `must be true, false or a list of header and query parameter names such as ['x-tenant-token'], got ${showValue(value)}`);
}

/**
 * A list option that adds to defaults: `['a']` or `{ add: ['a'], allow: ['b'] }`. Each allowed entry must be one
 * the defaults catch (`isDefault`), so a typo cannot silently allow nothing.
 */
function nameListChanges(
  options: Record<string, unknown>,
  key: string,
  isDefault: (entry: string) => boolean,
  notDefault: string,
  suggestions: readonly string[] = [],
): NameListChanges {
  const value = options[key];
  if (value === undefined || Array.isArray(value)) return { add: stringList(options, key), allow: [] };
  if (typeof value !== 'object' || value === null) {
    throw new ShadowOptionsError(key, `must be a list of names, or { add: [...], allow: [...] } to also take defaults out, got ${showValue(value)}`);
  }
  const changes = value as Record<string, unknown>;
  rejectUnknownKeys(changes, ['add', 'allow'], `${key}.`);
  const allow = stringList(changes, 'allow', `${key}.`);
  for (const [i, entry] of allow.entries()) {
    if (isDefault(entry)) continue;
    const suggestion = closestName(entry, suggestions);
    throw new ShadowOptionsError(`${key}.allow[${i}]`, `${showValue(entry)} ${notDefault}, so there is nothing to allow${suggestion ? `. Did you mean ${showValue(suggestion)}?` : ''}`);
  }
  return { add: stringList(changes, 'add', `${key}.`), allow };
}

function resolveRedactValues(value: unknown): ValueKind[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw new ShadowOptionsError('redactValues', `must be a list of ${VALUE_KINDS.map((kind) => `'${kind}'`).join(', ')}, got ${showValue(value)}`);
  return value.map((kind: unknown, i) => {
    if (typeof kind === 'string' && (VALUE_KINDS as readonly string[]).includes(kind)) return kind as ValueKind;
    const suggestion = typeof kind === 'string' ? closestName(kind, VALUE_KINDS) : undefined;
    throw new ShadowOptionsError(`redactValues[${i}]`, `must be one of ${VALUE_KINDS.join(', ')}, got ${showValue(kind)}${suggestion ? `. Did you mean '${suggestion}'?` : ''}`);
  });
}

function resolveLogBodies(value: unknown): SecretRules['logBodies'] {
  if (value === undefined || value === true) return { request: true, response: true };
  if (value === false) return { request: false, response: false };
  if (value === 'request') return { request: true, response: false };
  if (value === 'response') return { request: false, response: true };
  throw new ShadowOptionsError('logBodies', `must be true, false, 'request' or 'response', got ${showValue(value)}`);
}

/** A user's `isFailure` that throws must neither lose the shadow record nor leave a probe unreported: the default rule decides. */
function guardIsFailure(isFailure: ResolvedBreaker['isFailure'] | undefined): ResolvedBreaker['isFailure'] | undefined {
  if (!isFailure) return undefined;
  return (outcome) => {
    try {
      return Boolean(isFailure(outcome));
    } catch {
      return defaultIsFailure(outcome);
    }
  };
}
