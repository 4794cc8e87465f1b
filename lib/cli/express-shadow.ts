#!/usr/bin/env node
/**
 * The `express-shadow` command: a thin shell over the report library. It parses arguments, wires the progress bar,
 * writes the rendered report, and maps the outcome to an exit code (see `ExitCode`).
 */
import { readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { writeFile } from 'node:fs/promises';
import { setFlagsFromString } from 'node:v8';
import cliProgress from 'cli-progress';
import { ShadowLogReadError } from '../read/types.js';
import { buildReport, ReportBuilder, type BuildReportOptions } from '../report/build-report.js';
import { ExitCode, getExitCode } from '../report/exit-code.js';
import { CRITERIA_KEYS, resolveCriteria, type Criteria } from '../report/criteria.js';
import { compileLabelPath } from '../report/label-path.js';
import { renderReport, REPORT_FORMATS } from '../report/render.js';
import type { ReportFormat } from '../report/types.js';
import { docsUrl, REPOSITORY_URL } from './links.js';
import {
  asUsage,
  fail,
  NAME,
  parseCommand,
  parseCommandArgs,
  parseDuration,
  parseNumber,
  parsePositiveInteger,
  parseRatio,
  parseTime,
  UsageError,
  version,
} from './shell.js';

/** `express-shadow --help`: the commands. */
const COMMANDS_HELP = `Usage: ${NAME} <command> [options]

Commands:
  report <logs...>                 Turn shadow logs into a verdict: agreement, latency, errors,
                                   with a promote / reject call (exit 1 when it fails).
  replay <logs...> --target <url>  Send logged requests to a candidate and log its answers
                                   against production's, for the report.

Run "${NAME} <command> --help" for a command's options.
  -h, --help     Show this help.
  -v, --version  Show the version.

Docs: ${REPOSITORY_URL}#readme
`;

const HELP = `Usage: ${NAME} report [options] <files or globs...>

Reads express-shadow logs (plain or .gz, any number of files, joined by requestId;
"-" reads standard input) and reports how the shadow model compares with production.

Options:
  -f, --format <text|json|html>  Output format. Default: from --out's extension, else text.
  -o, --out <file>               Write the report to a file instead of stdout.
      --route <route>            Only requests of this route (e.g. /predict/:id).
      --since <time>             Only requests at or after: ISO time or a duration ago (30m, 2h, 7d).
      --until <time>             Only requests before: ISO time or a duration ago.
      --label-path <path>        JSON path of the predicted label in both bodies (e.g. $.label):
                                 adds the confusion matrix and agreement per class.
      --score-path <path>        JSON path of a numeric score in both bodies (e.g. $.score):
                                 judges its drift (Kolmogorov-Smirnov, PSI, mean |Δ|).
      --fail-under-match <ratio> Exit 1 when the match rate is below it (0.99 or 99%).
                                 It is also the agreement threshold (--min-match). The
                                 noise-free rate is used when a secondary measured noise.
                                 With several candidates, each must reach it.
      --gate                     Use the report as a CI gate with the default thresholds.
                                 Any threshold flag or --criteria makes it a gate too.
                                 A gate fails closed: exit 1 when there is too little
                                 evidence to judge (nothing compared, or fewer than
                                 --min-samples comparisons for a candidate).

Verdict criteria (judged per candidate and route; see
${docsUrl('report.md')}):
      --min-match <ratio>        Lowest agreement (noise-free match, or label agreement
                                 with --label-path). Default 95%, or --fail-under-match.
      --min-label-agreement <r>  Lowest agreement on each production label. Default 90%.
      --max-latency-increase <v> p50/p99 slowdown that is a regression: 25ms and/or 50%
                                 (give the flag twice for both). Default 25ms, 50%.
      --max-error-increase <r>   Largest rise of the error rate over production's, in
                                 points (1% or 0.01). Default 1%.
      --max-psi <n>              Score PSI at or above which it drifted. Default 0.25.
      --min-samples <n>          Samples a side below which "too few samples". Default 30.
      --max-engine-delay-ms <ms> Leave out of latency the answers the engine read more
                                 than this late (engineDelayMs). Default 5.
      --alpha <p>                Family-wise error rate (Holm). Default 0.05.
      --criteria <file.json>     Thresholds from a JSON file: {"minMatch": 0.97, ...};
                                 flags override it.
      --window <duration>        Join window in log time. Default 60s.
      --max-open <n>             Join window in open requests. Default 100000.
      --threads <n>              Threads that read. Default: one per idle CPU once there are
                                 16 MiB of log per thread; always 1 for stdin or a pipe.
      --no-comparisons           The logs were written with compare: false: do not wait
                                 for comparison records.
      --top <n>                  Differing paths listed. Default 20.
  -h, --help                     Show this help.
  -v, --version                  Show the version.

Exit codes:
  0  report written; the verdict passed or was marginal, or (not a gate) had too few
     samples to judge
  1  the verdict failed: a criterion failed, the score is below marginalScore, a
     candidate is below --fail-under-match, or the report is a gate and there was too
     little evidence to judge (the report says why)
  2  bad arguments (a bad flag value or criteria file, --out naming an input)
  3  a log file is missing or unreadable, no file matched, or the output cannot be written

Environment: NO_COLOR disables colour, FORCE_COLOR=1 forces it (FORCE_COLOR=0 disables it).
A progress bar is drawn on stderr when stderr is a terminal.
`;

const OPTIONS = {
  format: { type: 'string', short: 'f' },
  out: { type: 'string', short: 'o' },
  route: { type: 'string' },
  since: { type: 'string' },
  until: { type: 'string' },
  'label-path': { type: 'string' },
  'fail-under-match': { type: 'string' },
  'score-path': { type: 'string' },
  'min-match': { type: 'string' },
  'min-label-agreement': { type: 'string' },
  'max-latency-increase': { type: 'string', multiple: true },
  'max-error-increase': { type: 'string' },
  'max-psi': { type: 'string' },
  'max-engine-delay-ms': { type: 'string' },
  'min-samples': { type: 'string' },
  alpha: { type: 'string' },
  criteria: { type: 'string' },
  window: { type: 'string' },
  'max-open': { type: 'string' },
  threads: { type: 'string' },
  'no-comparisons': { type: 'boolean' },
  gate: { type: 'boolean' },
  top: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'v' },
} as const;

/** A join window: more than 0 and at most a year (a window is held in memory). */
function parseWindow(value: string): number {
  const ms = parseDuration('window', value);
  if (ms <= 0 || ms > 365 * 86_400_000) throw new UsageError(`--window must be more than 0 and at most 365d, like 60s or 5m; got ${JSON.stringify(value)}.`);
  return ms;
}

/** `25ms` → ms threshold; `50%` → ratio threshold. */
function parseLatencyIncrease(values: string[], criteria: Partial<Criteria>): void {
  for (const value of values) {
    const v = value.trim();
    const ms = /^(\d+(?:\.\d+)?)\s*ms$/.exec(v);
    const percent = /^(\d+(?:\.\d+)?)\s*%$/.exec(v);
    if (ms !== null) criteria.maxLatencyIncreaseMs = Number(ms[1]);
    else if (percent !== null) criteria.maxLatencyIncreaseRatio = Number(percent[1]) / 100;
    else throw new UsageError(`--max-latency-increase must be milliseconds like 25ms or a percentage like 50%; got ${JSON.stringify(value)}.`);
  }
}

function readCriteriaFile(file: string): Partial<Criteria> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`--criteria: cannot read ${file}: ${(err as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`--criteria: ${file} is not valid JSON: ${(err as Error).message}`);
  }
  asUsage(() => resolveCriteria(parsed, `--criteria ${file}`));
  return parsed as Partial<Criteria>;
}

const FLAG_OF: Partial<Record<keyof Criteria, string>> = {
  minMatch: '--min-match',
  minLabelAgreement: '--min-label-agreement',
  maxLatencyIncreaseMs: '--max-latency-increase',
  maxLatencyIncreaseRatio: '--max-latency-increase',
  maxErrorIncrease: '--max-error-increase',
  maxPsi: '--max-psi',
  minSamples: '--min-samples',
  maxEngineDelayMs: '--max-engine-delay-ms',
  alpha: '--alpha',
};

/**
 * One number governs agreement: `--fail-under-match` is `minMatch` too. It overrides the file's `minMatch`, as every
 * flag does; with a different `--min-match` flag the command is refused rather than judged against two thresholds.
 */
function withMatchGate(criteria: Partial<Criteria>, failUnderMatch: number | undefined, minMatchFlag: boolean): void {
  if (failUnderMatch === undefined) return;
  if (minMatchFlag && criteria.minMatch !== failUnderMatch) {
    throw new UsageError(
      `--fail-under-match ${failUnderMatch} and --min-match ${String(criteria.minMatch)} are both the agreement threshold; give one ` +
        `(--fail-under-match sets --min-match too).`,
    );
  }
  delete criteria.minMatch;
}

/** Thresholds: the criteria file, then the flags over it; `undefined` when neither was given. */
function criteriaFrom(values: Record<string, string | string[] | boolean | undefined>, failUnderMatch: number | undefined): Partial<Criteria> | undefined {
  const flag = (name: string): string | undefined => values[name] as string | undefined;
  const file = flag('criteria');
  const criteria: Partial<Criteria> = file === undefined ? {} : readCriteriaFile(file);
  const fromFile = new Set(Object.keys(criteria));
  const set = <K extends keyof Criteria>(key: K, value: number): void => {
    criteria[key] = value;
    fromFile.delete(key);
  };
  if (flag('min-match') !== undefined) set('minMatch', parseRatio('min-match', flag('min-match') as string));
  if (flag('min-label-agreement') !== undefined) set('minLabelAgreement', parseRatio('min-label-agreement', flag('min-label-agreement') as string));
  if (values['max-latency-increase'] !== undefined) {
    const latency: Partial<Criteria> = {};
    parseLatencyIncrease(values['max-latency-increase'] as string[], latency);
    for (const [key, value] of Object.entries(latency)) set(key as keyof Criteria, value);
  }
  if (flag('max-error-increase') !== undefined) set('maxErrorIncrease', parseRatio('max-error-increase', flag('max-error-increase') as string));
  if (flag('max-psi') !== undefined) set('maxPsi', parseNumber('max-psi', flag('max-psi') as string));
  if (flag('min-samples') !== undefined) set('minSamples', parseNumber('min-samples', flag('min-samples') as string));
  if (flag('max-engine-delay-ms') !== undefined) set('maxEngineDelayMs', parseNumber('max-engine-delay-ms', flag('max-engine-delay-ms') as string));
  if (flag('alpha') !== undefined) set('alpha', parseNumber('alpha', flag('alpha') as string));
  withMatchGate(criteria, failUnderMatch, flag('min-match') !== undefined);
  if (Object.keys(criteria).length === 0) return undefined;
  try {
    resolveCriteria(criteria, 'criteria');
  } catch (err) {
    // Name the flag that set the bad value, or the file.
    const message = (err as Error).message;
    const key = CRITERIA_KEYS.find((k) => message.includes(`\`${k}\``));
    const source = key === undefined ? undefined : fromFile.has(key) ? `--criteria ${String(file)}` : FLAG_OF[key];
    throw new UsageError(source === undefined ? message : message.replace(/^criteria: /, `${source}: `));
  }
  return criteria;
}

interface ReportCommand {
  files: string[];
  format: ReportFormat;
  out: string | undefined;
  options: BuildReportOptions;
}

function parseReportArgs(args: string[], now: number): ReportCommand | 'help' | 'version' {
  const { values, positionals } = parseCommandArgs(args, OPTIONS);
  if (values.help === true) return 'help';
  if (values.version === true) return 'version';
  if (positionals.length === 0) throw new UsageError('No log files given. Example: express-shadow report "logs/shadow*.log*"');

  let format: ReportFormat = 'text';
  if (values.format !== undefined) {
    if (!(REPORT_FORMATS as readonly string[]).includes(values.format)) {
      throw new UsageError(`--format must be one of ${REPORT_FORMATS.join(', ')}; got ${JSON.stringify(values.format)}.`);
    }
    format = values.format as ReportFormat;
  } else if (values.out !== undefined) {
    if (/\.html?$/i.test(values.out)) format = 'html';
    else if (/\.json$/i.test(values.out)) format = 'json';
  }

  const options: BuildReportOptions = {};
  if (values.route !== undefined) options.route = values.route;
  if (values.since !== undefined) options.since = parseTime('since', values.since, now);
  if (values.until !== undefined) options.until = parseTime('until', values.until, now);
  if (options.since !== undefined && options.until !== undefined && options.since >= options.until) {
    throw new UsageError(`--since (${String(options.since)}) must be before --until (${String(options.until)}).`);
  }
  if (values['label-path'] !== undefined) {
    asUsage(() => compileLabelPath(values['label-path'] as string), '--label-path: ');
    options.labelPath = values['label-path'];
  }
  if (values['score-path'] !== undefined) {
    asUsage(() => compileLabelPath(values['score-path'] as string), '--score-path: ');
    options.scorePath = values['score-path'];
  }
  if (values['fail-under-match'] !== undefined) options.failUnderMatch = parseRatio('fail-under-match', values['fail-under-match']);
  const criteria = criteriaFrom(values, options.failUnderMatch);
  if (criteria !== undefined) options.criteria = criteria;
  // Any threshold, the criteria file (even an empty one) or --gate: the report is a gate, and fails closed.
  if (values.gate === true || values.criteria !== undefined || options.failUnderMatch !== undefined || criteria !== undefined) options.gate = true;
  if (values.window !== undefined) options.windowMs = parseWindow(values.window);
  if (values['max-open'] !== undefined) options.maxOpenEntries = parsePositiveInteger('max-open', values['max-open']);
  if (values.threads !== undefined) options.threads = parsePositiveInteger('threads', values.threads);
  if (values['no-comparisons'] === true) options.expectComparisons = false;
  if (values.top !== undefined) options.topPaths = parsePositiveInteger('top', values.top);
  asUsage(() => new ReportBuilder(options)); // validates the summary options before any file is opened
  return { files: positionals, format, out: values.out, options };
}

/** NO_COLOR / FORCE_COLOR, then whether the stream is a terminal. FORCE_COLOR wins, as in Node's own `hasColors`. */
function useColor(env: NodeJS.ProcessEnv, isTTY: boolean): boolean {
  const force = env.FORCE_COLOR;
  if (force !== undefined) return force !== '0' && force !== 'false';
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  return isTTY;
}

function progressBar(): { onProgress: NonNullable<BuildReportOptions['onProgress']>; stop: () => void } {
  const started = Date.now();
  let bar: cliProgress.SingleBar | undefined;
  return {
    onProgress(progress) {
      const seconds = Math.max(0.001, (Date.now() - started) / 1000);
      const payload = { records: progress.records.toLocaleString('en-US'), rate: Math.round(progress.records / seconds).toLocaleString('en-US') };
      if (bar === undefined) {
        // A read that is over in a blink needs no bar flashing on the terminal.
        if (Date.now() - started < 300) return;
        bar = new cliProgress.SingleBar(
          {
            stream: process.stderr,
            format: 'reading {bar} {percentage}% | {records} records | {rate} records/s | eta {eta_formatted}',
            clearOnComplete: true,
            hideCursor: true,
            fps: 5,
          },
          cliProgress.Presets.shades_classic,
        );
        bar.start(Math.max(1, progress.bytesTotal), 0, payload);
      }
      bar.update(Math.min(progress.bytesRead, progress.bytesTotal), payload);
    },
    stop() {
      bar?.stop();
    },
  };
}

/** The input that `out` names, by path or by device and inode (links, `./x` vs `x`), if any. */
function sameFileAsInput(out: string, inputs: string[]): string | undefined {
  const outPath = resolve(out);
  let outStat: { dev: number; ino: number } | undefined;
  try {
    outStat = statSync(outPath);
  } catch {
    outStat = undefined;
  }
  return inputs.find((input) => {
    if (resolve(input) === outPath) return true;
    if (outStat === undefined) return false;
    try {
      const stat = statSync(input);
      return stat.dev === outStat.dev && stat.ino === outStat.ino;
    } catch {
      return false;
    }
  });
}

/** V8 flags of the report command (see `report`). */
const REPORT_V8_FLAGS = '--heap-growing-percent=50';

async function report(args: string[]): Promise<number> {
  const command = parseCommand('report', () => parseReportArgs(args, Date.now()), HELP);
  if (typeof command === 'number') return command;
  if (command === 'version') {
    process.stdout.write(`${version()}\n`);
    return ExitCode.ok;
  }

  const progress = process.stderr.isTTY === true ? progressBar() : undefined;
  let result;
  try {
    // This process is the report's own, so its heap may be tuned: the main thread reads a share of a split read
    // (report/parallel-report.ts), and V8 let its heap grow to up to 4 times what is live between full collections
    // (report threads have small bounded heaps); half as much again keeps the peak RSS on a million requests under
    // 200 MB (measured: docs/at-scale.md). Set before any report thread starts; flags are the process's.
    setFlagsFromString(REPORT_V8_FLAGS);
    const options: BuildReportOptions = { ...command.options };
    if (progress !== undefined) {
      options.onProgress = progress.onProgress;
      options.progressEvery = 5_000;
    }
    result = await buildReport(command.files, options);
  } catch (err) {
    if (err instanceof ShadowLogReadError) return fail(err.message, ExitCode.unreadable);
    throw err;
  } finally {
    progress?.stop();
  }

  if (command.out !== undefined && result.reading !== null) {
    const input = sameFileAsInput(command.out, result.reading.files.map((f) => f.path));
    if (input !== undefined) {
      return fail(`--out ${command.out} is an input log (${input}); writing the report there would destroy it. Choose another file.`, ExitCode.badArguments);
    }
  }

  const color = command.out === undefined && command.format === 'text' && useColor(process.env, process.stdout.isTTY === true);
  const output = renderReport(result, command.format, { color });
  if (command.out !== undefined) {
    try {
      await writeFile(command.out, output);
    } catch (err) {
      return fail(`cannot write ${command.out}: ${(err as Error).message}`, ExitCode.unreadable);
    }
    process.stdout.write(`${result.verdict.headline}\n${result.verdict.summary}\nReport (${command.format}) written to ${command.out}\n`);
  } else {
    process.stdout.write(output);
  }
  const reading = result.reading;
  if (reading !== null && (command.out !== undefined || command.format !== 'text')) {
    const problems = [
      reading.unparseable > 0 ? `${reading.unparseable} unparseable lines` : null,
      reading.unrecognised > 0 ? `${reading.unrecognised} unrecognised records` : null,
      reading.truncated > 0 ? `${reading.truncated} truncated files` : null,
      result.totals.orphans.noShadow + result.totals.orphans.noProduction > 0
        ? `${result.totals.orphans.noShadow + result.totals.orphans.noProduction} orphans`
        : null,
    ].filter((p) => p !== null);
    if (problems.length > 0) process.stderr.write(`${NAME}: note: ${problems.join(', ')} (see the report's Reading section)\n`);
  }
  return getExitCode(result);
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === 'report') return report(rest);
  if (command === 'replay') return (await import('./replay-command.js')).replayCommand(rest);
  if (command === '--version' || command === '-v') {
    process.stdout.write(`${version()}\n`);
    return ExitCode.ok;
  }
  if (command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(COMMANDS_HELP);
    return ExitCode.ok;
  }
  if (command === undefined) {
    process.stderr.write(COMMANDS_HELP);
    return ExitCode.badArguments;
  }
  return fail(`unknown command ${JSON.stringify(command)}; the commands are "report" and "replay".\nRun "${NAME} --help" for usage.`, ExitCode.badArguments);
}

// `report | head` closes the pipe early: stop quietly with the report's exit code, as Unix tools do.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code !== 'EPIPE') throw error;
  process.exit(process.exitCode ?? 0);
});

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.exitCode = fail(`unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`, ExitCode.unreadable);
  },
);
