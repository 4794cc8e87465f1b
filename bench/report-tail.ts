/**
 * The report on several threads, timed as a whole and from the last thread's result to the report (the main thread's
 * tail, when the other cores are idle), with a hash of the report to check two builds give the same one. Run two
 * builds alternating (`--dist` of each) to compare them on a shared machine.
 *
 *   npm run build && node --import tsx bench/report-tail.ts [--dist dist] [--threads 2] [--rounds 3] '/tmp/logs/*'
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({
  options: { dist: { type: 'string', default: 'dist' }, threads: { type: 'string', default: '2' }, rounds: { type: 'string', default: '1' } },
  allowPositionals: true,
});
const dist = path.resolve(values.dist);

// The last share's result, as the main thread takes it (report/parallel-report.ts): every split share's result,
// read on this thread or on another, goes through `KeptEntries.into`.
let last: { at: number; cpu: NodeJS.CpuUsage } | null = null;
const { KeptEntries } = (await import(path.join(dist, 'report/pending-wire.js'))) as typeof import('../lib/report/pending-wire.js');
const into = KeptEntries.prototype.into;
KeptEntries.prototype.into = function (this: InstanceType<typeof KeptEntries>, ...args: Parameters<typeof into>): void {
  last = { at: performance.now(), cpu: process.cpuUsage() };
  into.apply(this, args);
};
const { buildReport } = (await import(path.join(dist, 'report/index.js'))) as typeof import('../lib/report/index.js');

const seconds = (cpu: NodeJS.CpuUsage): number => +((cpu.user + cpu.system) / 1e6).toFixed(3);
for (let round = 0; round < Number(values.rounds); round++) {
  last = null;
  const started = performance.now();
  const cpu = process.cpuUsage();
  const report = await buildReport(positionals, { labelPath: '$.label', threads: Number(values.threads) });
  const ended = performance.now();
  const used = process.cpuUsage(cpu);
  const tail = last as { at: number; cpu: NodeJS.CpuUsage } | null;
  if (report.reading !== null) report.reading.peakOpenEntries = 0;
  console.log(
    JSON.stringify({
      dist: values.dist,
      wall: +((ended - started) / 1000).toFixed(2),
      cpu: seconds(used),
      tail: tail === null ? null : +((ended - tail.at) / 1000).toFixed(3),
      tailCpu: tail === null ? null : seconds(process.cpuUsage(tail.cpu)),
      peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
      report: createHash('sha1').update(JSON.stringify(report)).digest('hex').slice(0, 10),
    }),
  );
}
