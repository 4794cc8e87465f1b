/**
 * Reader benchmark: streams the logs made by gen-logs through the reader and the report builder, and prints
 * records/s and peak RSS. The acceptance figure is 1,000,000 pairs (about 1 GB) under 200 MB peak RSS.
 *
 *   node bench/results/build/read-logs.mjs 'bench/results/logs/*'
 */
import { stat } from 'node:fs/promises';
import { buildReport } from '../lib/report/index.js';
import { glob } from 'tinyglobby';

const patterns = process.argv.slice(2);
if (patterns.length === 0) patterns.push('bench/results/logs/*');

const files = await glob(patterns, { onlyFiles: true });
let bytesOnDisk = 0;
for (const file of files) bytesOnDisk += (await stat(file)).size;

let samples = 0;
let rssMax = 0;
const sampler = setInterval(() => {
  samples++;
  rssMax = Math.max(rssMax, process.memoryUsage.rss());
}, 100);

const started = process.hrtime.bigint();
const report = await buildReport(patterns, { labelPath: '$.label' });
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
clearInterval(sampler);

const reading = report.reading;
if (reading === null) throw new Error('no reading stats');
const peakRssMb = process.resourceUsage().maxRSS / 1024;
const result = {
  files: reading.files.length,
  gzip: reading.files.some((f) => f.gzip),
  gbOnDisk: +(bytesOnDisk / 1e9).toFixed(3),
  lines: reading.lines,
  records: reading.records,
  requests: reading.entries,
  seconds: +seconds.toFixed(1),
  recordsPerSecond: Math.round(reading.records / seconds),
  mbPerSecondOnDisk: +(bytesOnDisk / 1e6 / seconds).toFixed(1),
  peakRssMb: +peakRssMb.toFixed(1),
  sampledRssMaxMb: +(rssMax / 1024 / 1024).toFixed(1),
  rssSamples: samples,
  peakOpenEntries: reading.peakOpenEntries,
  orphans: reading.orphans,
  closedBy: reading.closedBy,
  matchRate: report.match.overall.rate,
  comparisons: report.match.overall.total,
  verdict: report.verdict.headline,
};
console.log(JSON.stringify(result, null, 2));
if (peakRssMb >= 200) {
  console.error(`peak RSS ${peakRssMb.toFixed(1)} MB is over the 200 MB budget`);
  process.exitCode = 1;
}
