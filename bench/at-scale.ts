/**
 * The report at scale against DuckDB, in one run on one machine: generates seeded logs of the sizes asked for (4 app
 * instances, records interleaved as several instances write them, rotated into 8 files for 1M; under /tmp, never
 * committed), then times, each as its own process and alternating, `express-shadow report --format json` (threads:
 * one per idle CPU), the same report on `--threads 2` and `--threads 1`, and bench/duckdb-sql.ts (2 threads).
 * Wall time and peak RSS come from GNU time, median of `--runs`. Every report is checked against the generator's
 * planted truth, against DuckDB's figures, and against each other (the reports on 1 and 2 threads must be the same).
 * Writes bench/results/<date>-at-scale.json and prints the Markdown table that docs/at-scale.md quotes, with the
 * machine and its load average.
 *
 *   npm run build && node --import tsx bench/at-scale.ts [--sizes 100000,1000000] [--runs 3] [--dir /tmp/express-shadow-at-scale]
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { median } from './stats.js';

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '100000,1000000' },
    runs: { type: 'string', default: '3' },
    dir: { type: 'string', default: path.join(os.tmpdir(), 'express-shadow-at-scale') },
  },
});
const root = path.resolve(import.meta.dirname, '..');
const sizes = values.sizes.split(',').map(Number);
const runs = Number(values.runs);

interface Measure {
  seconds: number;
  peakRssMb: number;
}

function run(command: string[]): Promise<Measure & { stdout: string }> {
  return new Promise((resolve, reject) => {
    execFile('/usr/bin/time', ['-f', 'TIME %e %M', ...command], { cwd: root, maxBuffer: 256 * 1024 * 1024 }, (error, stdout, stderr) => {
      const match = /TIME ([\d.]+) (\d+)\s*$/.exec(stderr);
      // The report exits 1 when its verdict fails; only a missing TIME line is a failure here.
      if (match === null || (error !== null && error.code !== 1)) {
        reject(new Error(`${command.join(' ')} failed: ${stderr.slice(-2000)}`));
        return;
      }
      resolve({ seconds: Number(match[1]), peakRssMb: Number(match[2]) / 1024, stdout });
    });
  });
}

interface Truth {
  pairs: number;
  skipped: number;
  errors: number;
  mismatches: number;
}

async function logs(pairs: number): Promise<{ glob: string; files: number; bytes: number; truth: Truth }> {
  const out = path.join(values.dir, String(pairs));
  const truthFile = path.join(out, 'truth.json');
  if (!existsSync(truthFile)) {
    await mkdir(out, { recursive: true });
    const rotate = pairs >= 1_000_000 ? ['--rotate'] : [];
    const { stdout } = await run([process.execPath, '--import', 'tsx', 'bench/gen-logs.ts', '--pairs', String(pairs), '--files', '4', ...rotate, '--out', path.join(out, 'logs'), '--seed', '16']);
    await writeFile(truthFile, stdout);
  }
  const names = await readdir(path.join(out, 'logs'));
  let bytes = 0;
  for (const name of names) bytes += (await stat(path.join(out, 'logs', name))).size;
  return { glob: path.join(out, 'logs', '*'), files: names.length, bytes, truth: JSON.parse(await readFile(truthFile, 'utf8')) as Truth };
}

const report = (glob: string, ...flags: string[]): string[] => [process.execPath, 'dist/cli/express-shadow.js', 'report', '--format', 'json', '--label-path', '$.label', ...flags, glob];
const tools: Record<string, (glob: string) => string[]> = {
  '`express-shadow report`': (glob) => report(glob),
  '`express-shadow report --threads 2`': (glob) => report(glob, '--threads', '2'),
  '`express-shadow report --threads 1`': (glob) => report(glob, '--threads', '1'),
  'DuckDB (`bench/duckdb-sql.ts`, 2 threads)': (glob) => [process.execPath, '--import', 'tsx', 'bench/duckdb-sql.ts', glob, '2', '--figures'],
};
const DEFAULT = '`express-shadow report`';
const DUCKDB = 'DuckDB (`bench/duckdb-sql.ts`, 2 threads)';

/** A report's JSON without the one reading figure a read on several threads gives as a bound. */
function comparable(stdout: string): string {
  const json = JSON.parse(stdout) as { reading: { peakOpenEntries: number } | null };
  if (json.reading !== null) json.reading.peakOpenEntries = 0;
  return JSON.stringify(json);
}

interface ReportFigures {
  totals: { skipped: number; shadowErrors: number; comparisons: number };
  match: { overall: { count: number; total: number } };
}
interface DuckFigures {
  figures: { match: { comparisons: string; matches: string }[]; errors: { errors: string }[] };
}

/** Planted counts the report must find, and DuckDB's counts it must equal. */
function checks(truth: Truth, report: ReportFigures, duck: DuckFigures): Record<string, boolean> {
  const duckComparisons = duck.figures.match.reduce((n, r) => n + Number(r.comparisons), 0);
  const duckMatches = duck.figures.match.reduce((n, r) => n + Number(r.matches), 0);
  return {
    skipped: report.totals.skipped === truth.skipped,
    shadowErrors: report.totals.shadowErrors === truth.errors,
    mismatches: report.match.overall.total - report.match.overall.count === truth.mismatches,
    comparisonsAsDuckDB: report.match.overall.total === duckComparisons,
    matchesAsDuckDB: report.match.overall.count === duckMatches,
    errorsAsDuckDB: report.totals.shadowErrors === duck.figures.errors.reduce((n, r) => n + Number(r.errors), 0),
  };
}

const machine = {
  cpus: os.cpus().length,
  cpuModel: os.cpus()[0]?.model.trim() ?? 'unknown',
  memoryGb: Math.round(os.totalmem() / 2 ** 30),
  node: process.version,
  os: `${os.type()} ${os.release()} ${os.arch()}`,
  loadAverageAtStart: os.loadavg().map((l) => +l.toFixed(1)),
};
const results = [];
for (const pairs of sizes) {
  const set = await logs(pairs);
  const measures: Record<string, Measure[]> = Object.fromEntries(Object.keys(tools).map((name) => [name, []]));
  let check: Record<string, boolean> = {};
  for (let i = 0; i < runs; i++) {
    // Alternating, so a burst of load from elsewhere falls on every tool alike.
    const outputs: Record<string, string> = {};
    for (const [name, command] of Object.entries(tools)) {
      const m = await run(command(set.glob));
      measures[name]?.push(m);
      outputs[name] = m.stdout;
      console.error(`${pairs} pairs, run ${i + 1}, ${name}: ${m.seconds} s, ${Math.round(m.peakRssMb)} MB`);
    }
    check = checks(set.truth, JSON.parse(outputs[DEFAULT] ?? '{}') as ReportFigures, JSON.parse(outputs[DUCKDB] ?? '{}') as DuckFigures);
    const reports = Object.keys(tools).filter((name) => name !== DUCKDB).map((name) => comparable(outputs[name] ?? '{}'));
    check.sameReportOnEveryThreadCount = reports.every((r) => r === reports[0]);
  }
  const row = Object.fromEntries(
    Object.entries(measures).map(([name, ms]) => [name, { seconds: median(ms.map((m) => m.seconds)), peakRssMb: Math.round(median(ms.map((m) => m.peakRssMb))), runs: ms }]),
  );
  results.push({ pairs, files: set.files, gbOnDisk: +(set.bytes / 1e9).toFixed(3), truth: set.truth, checks: check, tools: row });
}

const date = new Date().toISOString().slice(0, 10);
await writeFile(path.join(root, 'bench/results', `${date}-at-scale.json`), JSON.stringify({ machine: { ...machine, loadAverageAtEnd: os.loadavg().map((l) => +l.toFixed(1)) }, runs, results }, null, 2) + '\n');

const load = (l: number[]): string => l.map((x) => x.toFixed(1)).join(', ');
console.log(`Machine: ${machine.cpus} × ${machine.cpuModel}, ${machine.memoryGb} GiB, ${machine.os}, Node ${machine.node}; load average ${load(machine.loadAverageAtStart)} at the start, ${load(os.loadavg())} at the end. Median of ${runs} runs.\n`);
console.log('| Tool | Request pairs | GB | Wall | Peak RSS | / DuckDB | Figures |');
console.log('|---|---:|---:|---:|---:|---:|---|');
for (const r of results) {
  const failed = Object.entries(r.checks).filter(([, ok]) => !ok).map(([k]) => k);
  const figures = failed.length === 0 ? 'all exact' : `off: ${failed.join(', ')}`;
  const duck = r.tools[DUCKDB]?.seconds ?? NaN;
  for (const name of Object.keys(tools)) {
    const t = r.tools[name];
    const ratio = name === DUCKDB ? '1×' : `${((t?.seconds ?? NaN) / duck).toFixed(2)}×`;
    console.log(`| ${name} | ${r.pairs.toLocaleString('en-US')} | ${r.gbOnDisk} | ${t?.seconds} s | ${t?.peakRssMb} MB | ${ratio} | ${name === DUCKDB ? '' : figures} |`);
  }
}
