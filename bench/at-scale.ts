/**
 * The report at scale (issue 16): generates seeded logs of 10k, 100k and 1M request pairs on demand (several files,
 * interleaved, with errors, skips and late records; under /tmp, never committed) and times, in one run on one machine,
 * each tool as its own process: our `report --format json`, a Node readline floor, and DuckDB running sql/ with 2 threads.
 * Wall time and peak RSS come from GNU time; the floor and DuckDB scripts run through tsx, so their time is the one they
 * measure themselves, without tsx's start-up (their RSS includes tsx's few MB). Results go to bench/results/<date>-at-scale.json and a Markdown table
 * to stdout (copied into docs/at-scale.md).
 *
 *   npm run build && node --import tsx bench/at-scale.ts [--sizes 10000,100000,1000000] [--runs 3] [--dir /tmp/express-shadow-at-scale]
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { median } from './stats.js';

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '10000,100000,1000000' },
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

function run(command: string[], cwd = root): Promise<Measure & { stdout: string }> {
  return new Promise((resolve, reject) => {
    execFile('/usr/bin/time', ['-f', 'TIME %e %M', ...command], { cwd, maxBuffer: 256 * 1024 * 1024 }, (error, stdout, stderr) => {
      const match = /TIME ([\d.]+) (\d+)\s*$/.exec(stderr);
      if (error !== null || match === null) {
        reject(new Error(`${command.join(' ')} failed: ${stderr.slice(-2000)}`));
        return;
      }
      const own = /"seconds":([\d.]+)/.exec(stdout);
      resolve({ seconds: own === null ? Number(match[1]) : +Number(own[1]).toFixed(2), peakRssMb: Number(match[2]) / 1024, stdout });
    });
  });
}

async function logs(pairs: number): Promise<{ glob: string; files: number; bytes: number }> {
  const out = path.join(values.dir, String(pairs));
  if (!existsSync(path.join(out, 'shadow-0.log'))) {
    await mkdir(values.dir, { recursive: true });
    // Rotated files for the big set: eight files, two per instance, as a week of rotation leaves them.
    const rotate = pairs >= 1_000_000 ? ['--rotate'] : [];
    await run([process.execPath, '--import', 'tsx', 'bench/gen-logs.ts', '--pairs', String(pairs), '--files', '4', ...rotate, '--out', out, '--seed', '16']);
  }
  const names = await readdir(out);
  let bytes = 0;
  for (const name of names) bytes += (await stat(path.join(out, name))).size;
  return { glob: path.join(out, '*'), files: names.length, bytes };
}

const tools: Record<string, (glob: string) => string[]> = {
  'express-shadow report --format json': (glob) => [process.execPath, 'dist/cli/express-shadow.js', 'report', '--format', 'json', '--label-path', '$.label', glob],
  'Node readline floor': (glob) => [process.execPath, '--import', 'tsx', 'bench/readline-floor.ts', glob],
  'DuckDB sql/, 2 threads': (glob) => [process.execPath, '--import', 'tsx', 'bench/duckdb-sql.ts', glob, '2'],
};

const results = [];
for (const pairs of sizes) {
  const set = await logs(pairs);
  const row: Record<string, Measure> = {};
  for (const [name, command] of Object.entries(tools)) {
    const measures: Measure[] = [];
    for (let i = 0; i < runs; i++) measures.push(await run(command(set.glob)));
    row[name] = { seconds: median(measures.map((m) => m.seconds)), peakRssMb: Math.round(median(measures.map((m) => m.peakRssMb))) };
    console.error(`${pairs} pairs, ${name}: ${row[name].seconds} s, ${row[name].peakRssMb} MB`);
  }
  results.push({ pairs, files: set.files, gbOnDisk: +(set.bytes / 1e9).toFixed(3), tools: row });
}

const machine = {
  cpus: os.cpus().length,
  cpuModel: os.cpus()[0]?.model.trim() ?? 'unknown',
  node: process.version,
  os: `${os.type()} ${os.release()} ${os.arch()}`,
  loadAverageAtEnd: os.loadavg().map((l) => +l.toFixed(1)),
};
const date = new Date().toISOString().slice(0, 10);
await writeFile(path.join(root, 'bench/results', `${date}-at-scale.json`), JSON.stringify({ machine, runs, results }, null, 2) + '\n');

const names = Object.keys(tools);
console.log(`| pairs | files | GB | ${names.join(' | ')} |`);
console.log(`|---:|---:|---:|${names.map(() => '---:|').join('')}`);
for (const r of results) {
  console.log(`| ${r.pairs.toLocaleString('en-US')} | ${r.files} | ${r.gbOnDisk} | ${names.map((n) => `${r.tools[n]?.seconds} s, ${r.tools[n]?.peakRssMb} MB`).join(' | ')} |`);
}
