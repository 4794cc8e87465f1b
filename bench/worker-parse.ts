/**
 * Would parsing in worker threads help on two cores? Reads one log file three ways and prints the wall time of each:
 * parsing on the main thread; parsing in a worker that posts the parsed records back in batches (structured clone);
 * and a worker that posts back the raw lines for the main thread to parse (what is left to gain: reading and splitting).
 *
 *   node --import tsx bench/worker-parse.ts /tmp/express-shadow-at-scale/100000/shadow-0.log
 */
import { readFile } from 'node:fs/promises';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';

const BATCH = 2000;

async function linesOf(file: string): Promise<string[]> {
  return (await readFile(file, 'utf8')).split('\n').filter((line) => line.length > 0);
}

if (!isMainThread) {
  const { file, mode } = workerData as { file: string; mode: 'records' | 'lines' };
  const lines = await linesOf(file);
  for (let i = 0; i < lines.length; i += BATCH) {
    const batch = lines.slice(i, i + BATCH);
    parentPort?.postMessage(mode === 'records' ? batch.map((line) => JSON.parse(line) as unknown) : batch.join('\n'));
  }
  parentPort?.postMessage(null);
} else {
  const file = process.argv[2] ?? '/tmp/express-shadow-at-scale/100000/shadow-0.log';
  const time = async (run: () => Promise<number>): Promise<{ seconds: number; records: number }> => {
    const started = process.hrtime.bigint();
    const records = await run();
    return { seconds: +(Number(process.hrtime.bigint() - started) / 1e9).toFixed(3), records };
  };
  const inWorker = (mode: 'records' | 'lines') => (): Promise<number> =>
    new Promise((resolve, reject) => {
      // Run through tsx, the worker needs tsx's loader too; `--import tsx` in a worker's execArgv is not honoured on
      // Node 20, so the worker registers it itself before importing this file.
      const worker = import.meta.url.endsWith('.ts')
        ? new Worker(`import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(import.meta.url)}); })`, { eval: true, workerData: { file, mode } })
        : new Worker(new URL(import.meta.url), { workerData: { file, mode } });
      let records = 0;
      worker.on('message', (message: unknown[] | string | null) => {
        if (message === null) {
          void worker.terminate();
          resolve(records);
        } else if (typeof message === 'string') {
          for (const line of message.split('\n')) if (JSON.parse(line) !== null) records++;
        } else {
          records += message.length;
        }
      });
      worker.on('error', reject);
    });
  const results: Record<string, { seconds: number; records: number }> = {};
  for (let round = 0; round < 2; round++) {
    results.mainThread = await time(async () => (await linesOf(file)).map((line) => JSON.parse(line) as unknown).length);
    results.workerPostsRecords = await time(inWorker('records'));
    results.workerPostsLines = await time(inWorker('lines'));
  }
  console.log(JSON.stringify(results));
}
