/**
 * The CPU of one share of a split read against the plain read, in this thread (no worker): reads the given files as
 * one share (`readShare` with `files`: every file) and as `buildReport` on one thread, and prints each one's wall and
 * CPU time. For profiling the reader without threads in the way (`node --cpu-prof --import tsx bench/share-cost.ts`).
 *
 *   npm run build && node --import tsx bench/share-cost.ts [--mode split|plain|both] [--rounds 2] '/tmp/logs/*'
 */
import { parseArgs } from 'node:util';
import { glob } from 'tinyglobby';
const { readShare } = (await import(new URL('../dist/report/read-share.js', import.meta.url).href)) as typeof import('../lib/report/read-share.js');
const { buildReport } = (await import(new URL('../dist/report/index.js', import.meta.url).href)) as typeof import('../lib/report/index.js');

const { values, positionals } = parseArgs({ options: { mode: { type: 'string', default: 'both' }, rounds: { type: 'string', default: '2' } }, allowPositionals: true });
const files = await glob(positionals, { onlyFiles: true });
const options = { labelPath: '$.label' };

async function measure(name: string, run: () => Promise<unknown>): Promise<void> {
  const cpu = process.cpuUsage();
  const started = process.hrtime.bigint();
  await run();
  const wall = Number(process.hrtime.bigint() - started) / 1e9;
  const used = process.cpuUsage(cpu);
  console.log(JSON.stringify({ name, wall: +wall.toFixed(2), cpu: +((used.user + used.system) / 1e6).toFixed(2), rssMb: Math.round(process.memoryUsage().rss / 2 ** 20) }));
}

for (let round = 0; round < Number(values.rounds); round++) {
  if (values.mode !== 'plain') {
    await measure('split share of every file', () => readShare({ inputs: positionals, options, readOptions: {}, index: 0, count: 1, files: files.map((_, i) => i) }));
  }
  if (values.mode !== 'split') await measure('plain read', () => buildReport(positionals, { ...options, threads: 1 }));
}
