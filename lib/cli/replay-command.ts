/**
 * `express-shadow replay`: a thin shell over `replayShadowLog`. Parses arguments, reads stdin into a temporary
 * file when a log is `-`, draws a progress line on a terminal, stops cleanly on Ctrl-C, and prints a one-line summary
 * and, when the run did not finish, the command that resumes it.
 */
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { ShadowLogReadError } from '../read/types.js';
import { ShadowReplayError } from '../replay/errors.js';
import { replayShadowLog } from '../replay/replay-shadow-log.js';
import type { ReplayOptions, ReplayOutcome, ReplayStats, ReplaySummary } from '../replay/types.js';
import type { CompareOptions, HeaderMap } from '../types.js';
import { fail, NAME, parseCommand, parseCommandArgs, parseDuration, parseNumber, parsePositiveInteger, parseTime, SharedExitCode, UsageError } from './shell.js';

const REPLAY_HELP = `Usage: ${NAME} replay [options] <logs...> --target <url>

Sends the requests of express-shadow logs (plain or .gz; "-" reads stdin) to a new
candidate and writes its shadow and comparison records against the answers production
gave at the time. "${NAME} report <out>" then reports on it.

Options:
      --target <url>            The candidate's base URL (required).
      --name <name>             Its name in the records. Default: the URL.
  -o, --out <file>              Records are appended here. Default: replay.log.
      --methods <list>          Only these methods, e.g. POST. Default: every method in the
                                log, which the middleware mirrored live already.
      --rate <req/s>            Requests per second. Default: as fast as --concurrency allows.
      --concurrency <n>         Requests in flight. Default 16.
      --speed <x>               Original inter-arrival times divided by x.
      --route <route>           Only requests of this route (e.g. /predict/:id).
      --since <time>            Only requests at or after: ISO time or a duration ago (2h, 7d).
      --until <time>            Only requests before: ISO time or a duration ago.
      --sample <0..1>           Fraction replayed, the same requestIds every run.
      --limit <n>               Stop after sending n requests.
      --timeout <duration>      Per request (e.g. 5s). Default 5s.
      --header 'name: value'    Added to every request (repeatable), e.g. the candidate's auth.
      --transform-request <mod> Module whose default export is a transformRequest hook.
      --assemble <mod>          Module whose default export assembles streamed events (as the
                                middleware's assemble option).
      --ignore-path <path>      JSON path left out of the comparison (repeatable).
      --compare <json>          Options of the comparator, e.g. '{"numericTolerance":{"absolute":0.01}}'.
      --failure-threshold <n>   Consecutive failures that stop the replay. Default 5. A
                                candidate that is down gets at most this many requests.
      --dry-run                 Print what would be sent; send and write nothing.
      --resume                  Skip requests already replayed into --out and append.
  -h, --help                    Show this help.

Exit codes:
  0    every selected request replayed (or, with --resume, had been already)
  1    nothing was replayed: every request was left out or not replayable (it says why)
  2    bad arguments
  3    a log is missing or unreadable, --out already holds records (use --resume), or a
       --transform-request or --assemble module cannot be loaded
  4    the candidate kept failing: the breaker stopped the replay (resumable)
  130  interrupted (Ctrl-C); every record is written (resumable)
`;

const OPTIONS = {
  target: { type: 'string' },
  name: { type: 'string' },
  out: { type: 'string', short: 'o' },
  methods: { type: 'string' },
  rate: { type: 'string' },
  concurrency: { type: 'string' },
  speed: { type: 'string' },
  route: { type: 'string' },
  since: { type: 'string' },
  until: { type: 'string' },
  sample: { type: 'string' },
  limit: { type: 'string' },
  timeout: { type: 'string' },
  header: { type: 'string', multiple: true },
  'transform-request': { type: 'string' },
  assemble: { type: 'string' },
  'ignore-path': { type: 'string', multiple: true },
  compare: { type: 'string' },
  'failure-threshold': { type: 'string' },
  'dry-run': { type: 'boolean' },
  resume: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

const ReplayExitCode = { ...SharedExitCode, nothingReplayed: 1, breakerOpen: 4, interrupted: 130 } as const;

function header(value: string): [string, string] {
  const colon = value.indexOf(':');
  if (colon < 1) throw new UsageError(`--header must look like 'name: value'; got ${JSON.stringify(value)}.`);
  return [value.slice(0, colon).trim().toLowerCase(), value.slice(colon + 1).trim()];
}

function compareOptions(values: { compare?: string | undefined; 'ignore-path'?: string[] | undefined }): CompareOptions {
  let options: CompareOptions = {};
  if (values.compare !== undefined) {
    try {
      options = JSON.parse(values.compare) as CompareOptions;
    } catch {
      throw new UsageError(`--compare must be JSON like '{"ignorePaths":["$.id"]}'; got ${JSON.stringify(values.compare)}.`);
    }
  }
  const ignore = values['ignore-path'] ?? [];
  return ignore.length > 0 ? { ...options, ignorePaths: [...(options.ignorePaths ?? []), ...ignore] } : options;
}

interface ReplayCommand {
  logs: string[];
  options: ReplayOptions;
}

function parseReplayArgs(args: string[], now: number): ReplayCommand | 'help' {
  const { values, positionals } = parseCommandArgs(args, OPTIONS);
  if (values.help === true) return 'help';
  if (positionals.length === 0) throw new UsageError(`No log files given. Example: ${NAME} replay "logs/shadow*.log*" --target http://127.0.0.1:9003`);
  if (values.target === undefined) throw new UsageError(`--target is required. Example: ${NAME} replay shadow.log --target http://127.0.0.1:9003 --name v3`);
  const options: ReplayOptions = { target: values.target, out: values.out ?? 'replay.log', compare: compareOptions(values) };
  if (values.name !== undefined) options.name = values.name;
  if (values.methods !== undefined) options.methods = values.methods.split(',').map((m) => m.trim()).filter((m) => m !== '');
  if (values.rate !== undefined) options.rate = parseNumber('rate', values.rate, (n) => n > 0, 'a positive number of requests per second');
  if (values.concurrency !== undefined) options.concurrency = parsePositiveInteger('concurrency', values.concurrency);
  if (values.speed !== undefined) options.speed = parseNumber('speed', values.speed, (n) => n > 0, 'a positive number (2 = twice as fast)');
  if (values.route !== undefined) options.route = values.route;
  if (values.since !== undefined) options.since = parseTime('since', values.since, now);
  if (values.until !== undefined) options.until = parseTime('until', values.until, now);
  if (values.sample !== undefined) options.sample = parseNumber('sample', values.sample, (n) => n >= 0 && n <= 1, 'a fraction from 0 to 1');
  if (values.limit !== undefined) options.limit = parsePositiveInteger('limit', values.limit);
  if (values.timeout !== undefined) options.timeoutMs = Math.max(1, Math.round(parseDuration('timeout', values.timeout, '500ms, 5s or 2h')));
  if (values.header !== undefined) {
    const headers: HeaderMap = {};
    for (const [name, value] of values.header.map(header)) headers[name] = value;
    options.headers = headers;
  }
  if (values['transform-request'] !== undefined) options.transformRequest = values['transform-request'];
  if (values.assemble !== undefined) options.assemble = values.assemble;
  if (values['failure-threshold'] !== undefined) {
    options.breaker = { failureThreshold: parsePositiveInteger('failure-threshold', values['failure-threshold']) };
  }
  if (values['dry-run'] === true) options.dryRun = true;
  if (values.resume === true) options.resume = true;
  return { logs: positionals, options };
}

/** A shell word: quoted when it holds anything a shell would interpret. */
function shellWord(word: string): string {
  return /^[A-Za-z0-9_/.:=,@%+-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** The command that resumes a replay, as it can be pasted: `npx` finds the bin of the installed package. */
function resumeCommand(args: readonly string[]): string {
  const words = args.includes('--resume') ? [...args] : [...args, '--resume'];
  return ['npx', NAME, 'replay', ...words].map(shellWord).join(' ');
}

/** `reason n, …`, most frequent first, then by name: the same log always prints the same line. */
function counts(record: Partial<Record<string, number>>): string {
  return Object.entries(record)
    .filter(([, n]) => (n ?? 0) > 0)
    .sort(([a, n], [b, m]) => m! - n! || (a < b ? -1 : 1))
    .map(([reason, n]) => `${reason} ${n}`)
    .join(', ');
}

/** The one line printed at the end. */
function summaryLine(summary: ReplaySummary, name: string, dryRun: boolean): string {
  const s: ReplayStats = summary.stats;
  const failed = Object.values(s.failed).reduce((a, b) => a + b, 0);
  const parts = [
    dryRun ? `dry run: ${s.replayed} would be sent to ${name}` : `replayed ${s.replayed} to ${name} (${s.matched} of ${s.compared} compared matched, ${failed} failed${failed > 0 ? `: ${counts(s.failed)}` : ''})`,
    `not replayable ${Object.values(s.notReplayable).reduce((a, b) => a + (b ?? 0), 0)}${counts(s.notReplayable) ? ` (${counts(s.notReplayable)})` : ''}`,
  ];
  if (s.approximate > 0) parts.push(`approximate ${s.approximate}`);
  if (s.credentialsDropped > 0) parts.push(`sent without logged credentials ${s.credentialsDropped}`);
  const filtered = counts(s.filtered);
  if (filtered) parts.push(`left out: ${filtered}`);
  if (s.limitReached) parts.push('stopped at --limit');
  return `${parts.join('; ')}\n`;
}

/**
 * Why nothing was replayed, for a run that sent nothing (or, dry, would send nothing); `null` when something was, or
 * when everything selected had been replayed already (a finished run resumed). `given`: the `--methods` list.
 */
function nothingReplayed(stats: ReplayStats, given: readonly string[] = []): string | null {
  if (stats.replayed > 0 || stats.filtered.already_replayed > 0) return null;
  if (stats.read === 0) return 'nothing was replayed: the logs hold no request.';
  const reasons: string[] = [];
  const left = counts(stats.filtered);
  if (left) reasons.push(`left out by the filters: ${left} (--route, --since/--until, --sample)`);
  const refused = counts(stats.notReplayable);
  if (refused) reasons.push(`not replayable: ${refused}`);
  const methods = Object.entries(stats.methodsLeftOut).sort(([, a], [, b]) => b - a);
  if (methods.length > 0) {
    const named = [...new Set([...given, ...methods.map(([method]) => method)])];
    reasons.push(`--methods left out ${methods.map(([method, n]) => `${method} ${n}`).join(', ')}: replay them with --methods ${named.join(',')}`);
  }
  return `nothing was replayed: of ${stats.read} requests read, ${reasons.join('; ')}.`;
}

/** A live line on a terminal: done, rate, errors, and an ETA from how much of the logs was read. */
function progressLine(stats: ReplayStats): { onProgress: NonNullable<ReplayOptions['onProgress']>; stop: () => void } {
  const started = Date.now();
  let fraction = 0;
  const draw = (): void => {
    const seconds = Math.max(0.001, (Date.now() - started) / 1000);
    const rate = stats.replayed / seconds;
    const errors = Object.values(stats.failed).reduce((a, b) => a + b, 0);
    const eta = fraction > 0.01 ? `eta ${Math.max(0, Math.round(seconds / fraction - seconds))}s` : 'eta --';
    process.stderr.write(`\rreplay ${Math.round(fraction * 100)}% | ${stats.replayed} done | ${rate.toFixed(1)} req/s | ${errors} errors | ${eta}   `);
  };
  const timer = setInterval(draw, 250);
  return {
    onProgress(progress) {
      fraction = progress.bytesTotal > 0 ? progress.bytesRead / progress.bytesTotal : 0;
    },
    stop() {
      clearInterval(timer);
      process.stderr.write('\r\x1b[K');
    },
  };
}

function dryRunLine(outcome: ReplayOutcome): void {
  if (outcome.kind !== 'dry_run') return;
  const headers = Object.entries(outcome.headers).map(([name, value]) => `${name}: ${Array.isArray(value) ? value.join(', ') : value}`);
  process.stdout.write(`${outcome.method} ${outcome.url} ${outcome.bodyBytes} bytes${outcome.approximate ? ' (approximate)' : ''} [${headers.join('; ')}]\n`);
}

/** Copies stdin to a temporary file: the reader reads files, and a replay may read its input twice (resume). */
async function stdinToFile(): Promise<{ path: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'express-shadow-replay-'));
  const path = join(dir, 'stdin.log');
  await pipeline(process.stdin, createWriteStream(path));
  return { path, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

export async function replayCommand(args: string[]): Promise<number> {
  const command = parseCommand('replay', () => parseReplayArgs(args, Date.now()), REPLAY_HELP);
  if (typeof command === 'number') return command;
  const stdin = command.logs.includes('-') ? await stdinToFile() : undefined;
  const logs = command.logs.map((log) => (log === '-' && stdin ? stdin.path : log));
  const options = command.options;
  const progress = process.stderr.isTTY === true && options.dryRun !== true ? progressLine : undefined;
  const controller = new AbortController();
  const onInterrupt = (): void => controller.abort();
  process.once('SIGINT', onInterrupt);
  process.once('SIGTERM', onInterrupt);
  let run;
  try {
    run = replayShadowLog(logs, { ...options, signal: controller.signal, ...(options.dryRun ? { onOutcome: dryRunLine } : {}) });
  } catch (err) {
    process.removeListener('SIGINT', onInterrupt);
    process.removeListener('SIGTERM', onInterrupt);
    await stdin?.cleanup();
    return fail(`${(err as Error).message}\nRun "${NAME} replay --help" for usage.`, ReplayExitCode.badArguments);
  }
  const bar = progress?.(run.stats);
  let summary: ReplaySummary;
  try {
    summary = await run.done;
  } catch (err) {
    if (err instanceof ShadowLogReadError || err instanceof ShadowReplayError) return fail(err.message, ReplayExitCode.unreadable);
    throw err;
  } finally {
    bar?.stop();
    process.removeListener('SIGINT', onInterrupt);
    process.removeListener('SIGTERM', onInterrupt);
    await stdin?.cleanup();
  }
  const name = options.name ?? options.target;
  process.stdout.write(summaryLine(summary, name, options.dryRun === true));
  const dropped = Object.entries(summary.log?.dropped ?? {}).filter(([, n]) => n > 0);
  if (dropped.length > 0) {
    process.stderr.write(`${NAME}: warning: ${dropped.map(([reason, n]) => `${n} records ${reason}`).join(', ')} could not be written to ${options.out}.\n`);
  }
  const stdinNote = stdin ? ' (with the same input on stdin)' : '';
  if (summary.end === 'breaker_open') {
    process.stderr.write(`${NAME}: replay paused: ${name} is failing (${summary.breakerReason ?? 'breaker open'}). Every record so far is written to ${options.out}.\n`);
    process.stderr.write(`Fix the candidate, then resume${stdinNote}:\n  ${resumeCommand(args)}\n`);
    return ReplayExitCode.breakerOpen;
  }
  if (summary.end === 'stopped') {
    process.stderr.write(`${NAME}: interrupted; every record so far is written to ${options.out}. Resume${stdinNote} with:\n  ${resumeCommand(args)}\n`);
    return ReplayExitCode.interrupted;
  }
  const nothing = nothingReplayed(summary.stats, options.methods);
  if (nothing !== null) return fail(nothing, ReplayExitCode.nothingReplayed);
  return ReplayExitCode.ok;
}
