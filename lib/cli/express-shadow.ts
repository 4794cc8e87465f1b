#!/usr/bin/env node
/**
 * The `express-shadow` command: a thin shell over the report library. It parses arguments, wires the progress bar,
 * writes the rendered report, and maps the outcome to an exit code (see `ExitCode`).
 */
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import cliProgress from 'cli-progress';
import { ShadowLogReadError } from '../read/types.js';
import { buildReport, ReportBuilder, type BuildReportOptions } from '../report/build-report.js';
import { ExitCode, getExitCode } from '../report/exit-code.js';
import { compileLabelPath } from '../report/label-path.js';
import { closestName } from '../did-you-mean.js';
import { renderReport, REPORT_FORMATS } from '../report/render.js';
import type { ReportFormat } from '../report/types.js';

const NAME = 'express-shadow';

const HELP = `Usage: ${NAME} report [options] <files or globs...>

Reads express-shadow logs (plain or .gz, any number of files, joined by requestId)
and reports how the shadow model compares with production.

Options:
  -f, --format <text|json|html>  Output format. Default: from --out's extension, else text.
  -o, --out <file>               Write the report to a file instead of stdout.
      --route <route>            Only requests of this route (e.g. /predict/:id).
      --since <time>             Only requests at or after: ISO time or a duration ago (30m, 2h, 7d).
      --until <time>             Only requests before: ISO time or a duration ago.
      --label-path <path>        JSON path of the predicted label in both bodies (e.g. $.label):
                                 adds the confusion matrix and agreement per class.
      --fail-under-match <ratio> Exit 1 when the match rate is below it (0.99 or 99%),
                                 or when nothing was compared. With several candidates,
                                 each must reach it: exit 1 if any is below it or has
                                 no comparisons.
      --window <duration>        Join window in log time. Default 60s.
      --max-open <n>             Join window in open requests. Default 100000.
      --top <n>                  Differing paths listed. Default 20.
  -h, --help                     Show this help.
  -v, --version                  Show the version.

Exit codes:
  0  report written (and the --fail-under-match gate passed)
  1  match rate (of any candidate) below --fail-under-match, or no comparisons
     with the gate set
  2  bad arguments
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
  window: { type: 'string' },
  'max-open': { type: 'string' },
  top: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'v' },
} as const;

class UsageError extends Error {
  override readonly name = 'UsageError';
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
  return pkg.version ?? 'unknown';
}

function didYouMean(option: string): string {
  const name = option.replace(/^-+/, '').split('=')[0] ?? '';
  const best = closestName(name, Object.keys(OPTIONS));
  return best === undefined ? '' : ` Did you mean --${best}?`;
}

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|min|h|d)$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1e3, m: 60e3, min: 60e3, h: 3600e3, d: 86400e3 };

function parseDuration(option: string, value: string): number {
  const match = DURATION.exec(value.trim());
  if (match === null) throw new UsageError(`--${option} must be a duration like 30s, 5m, 2h or 7d; got ${JSON.stringify(value)}.`);
  return Number(match[1]) * (UNIT_MS[match[2] as string] as number);
}

function parseTime(option: string, value: string, now: number): string {
  if (DURATION.test(value.trim())) return new Date(now - parseDuration(option, value)).toISOString();
  const time = /^\d{4}-\d{2}-\d{2}/.test(value) ? Date.parse(value) : NaN;
  if (Number.isNaN(time)) {
    throw new UsageError(`--${option} must be an ISO time like 2024-05-01T10:00:00Z, or a duration ago like 2h; got ${JSON.stringify(value)}.`);
  }
  return new Date(time).toISOString();
}

function parsePositiveInteger(option: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`--${option} must be a positive whole number; got ${JSON.stringify(value)}.`);
  return n;
}

function parseRatio(value: string): number {
  const percent = value.trim().endsWith('%');
  const n = Number(percent ? value.trim().slice(0, -1) : value);
  const ratio = percent ? n / 100 : n;
  if (value.trim() === '' || !Number.isFinite(ratio) || ratio < 0 || ratio > 1) {
    throw new UsageError(`--fail-under-match must be a ratio between 0 and 1 (like 0.99) or a percentage (like 99%); got ${JSON.stringify(value)}.`);
  }
  return ratio;
}

interface ReportCommand {
  files: string[];
  format: ReportFormat;
  out: string | undefined;
  options: BuildReportOptions;
}

function parseReportArgs(args: string[], now: number): ReportCommand | 'help' | 'version' {
  let parsed;
  try {
    parsed = parseArgs({ args, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (err) {
    const e = err as Error & { code?: string };
    const option = /'(-[^']*)'/.exec(e.message)?.[1];
    if (e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && option !== undefined) {
      throw new UsageError(`Unknown option ${option}.${didYouMean(option)}`);
    }
    throw new UsageError(e.message);
  }
  const { values, positionals } = parsed;
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
    try {
      compileLabelPath(values['label-path']);
    } catch (err) {
      throw new UsageError(`--label-path: ${(err as Error).message}`);
    }
    options.labelPath = values['label-path'];
  }
  if (values['fail-under-match'] !== undefined) options.failUnderMatch = parseRatio(values['fail-under-match']);
  if (values.window !== undefined) options.windowMs = parseDuration('window', values.window);
  if (values['max-open'] !== undefined) options.maxOpenEntries = parsePositiveInteger('max-open', values['max-open']);
  if (values.top !== undefined) options.topPaths = parsePositiveInteger('top', values.top);
  try {
    new ReportBuilder(options); // validates the summary options before any file is opened
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
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

function fail(message: string, code: number): number {
  process.stderr.write(`${NAME}: ${message}\n`);
  return code;
}

async function report(args: string[]): Promise<number> {
  let command: ReturnType<typeof parseReportArgs>;
  try {
    command = parseReportArgs(args, Date.now());
  } catch (err) {
    if (err instanceof UsageError) return fail(`${err.message}\nRun "${NAME} report --help" for usage.`, ExitCode.badArguments);
    throw err;
  }
  if (command === 'help') {
    process.stdout.write(HELP);
    return ExitCode.ok;
  }
  if (command === 'version') {
    process.stdout.write(`${version()}\n`);
    return ExitCode.ok;
  }

  const progress = process.stderr.isTTY === true ? progressBar() : undefined;
  let result;
  try {
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

  const color = command.out === undefined && command.format === 'text' && useColor(process.env, process.stdout.isTTY === true);
  const output = renderReport(result, command.format, { color });
  if (command.out !== undefined) {
    try {
      await writeFile(command.out, output);
    } catch (err) {
      return fail(`cannot write ${command.out}: ${(err as Error).message}`, ExitCode.unreadable);
    }
    process.stdout.write(`${result.verdict.headline}\nReport (${command.format}) written to ${command.out}\n`);
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
    process.stdout.write(HELP);
    return ExitCode.ok;
  }
  if (command === undefined) {
    process.stderr.write(HELP);
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
