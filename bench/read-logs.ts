/**
 * The report over the logs made by gen-logs, from the built package (`npm run build` first), with records/s and peak
 * RSS: `buildReport` with a label path, on `--threads` threads (default: one per CPU, as the CLI).
 *
 *   node --import tsx bench/read-logs.ts [--threads 1] 'bench/results/logs/*'
 */
import { stat } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { glob } from 'tinyglobby';
// The built package, so report threads run the compiled worker as users' do.
// The built package (its report threads run dist/'s worker file); typed from the sources, so a clean clone type-checks.
const { buildReport } = (await import(new URL('../dist/report/index.js', import.meta.url).href)) as typeof import('../lib/report/index.js');

const { values, positionals } = parseArgs({ options: { threads: { type: 'string' } }, allowPositionals: true });
const patterns = positionals.length === 0 ? ['bench/results/logs/*'] : positionals;
const threads = values.threads === undefined ? undefined : Number(values.threads);

const files = await glob(patterns, { onlyFiles: true });
let bytesOnDisk = 0;
for (const file of files) bytesOnDisk += (await stat(file)).size;

const started = process.hrtime.bigint();
const report = await buildReport(patterns, { labelPath: '$.label', ...(threads === undefined ? {} : { threads }) });
const seconds = Number(process.hrtime.bigint() - started) / 1e9;

const reading = report.reading;
if (reading === null) throw new Error('no reading stats');
const peakRssMb = process.resourceUsage().maxRSS / 1024;
console.log(
  JSON.stringify({
    threads: threads ?? 'one per CPU',
    files: reading.files.length,
    gbOnDisk: +(bytesOnDisk / 1e9).toFixed(3),
    lines: reading.lines,
    records: reading.records,
    requests: reading.entries,
    seconds: +seconds.toFixed(1),
    recordsPerSecond: Math.round(reading.records / seconds),
    peakRssMb: +peakRssMb.toFixed(1),
    totals: report.totals,
    match: { overall: report.match.overall },
    verdict: report.verdict.headline,
  }),
);
