// Bytes the engine allocates per exchange: what garbage collection has to clean up, and a figure that, unlike CPU
// time, barely moves with the machine's load, so a change can be judged on a shared machine. Runs the engine alone
// (bench/engine-only.ts) at two sizes with V8's GC trace and takes the slope, so start-up does not count.
// Run from the checkout: `node bench/engine-alloc.mjs`.
import { spawnSync } from 'node:child_process';

function allocatedBytes(requests) {
  const run = spawnSync(process.execPath, ['--import', 'tsx', '--trace-gc-nvp', 'bench/engine-only.ts'], {
    env: { ...process.env, REQUESTS: String(requests) },
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
  });
  if (run.status !== 0) throw new Error(`bench/engine-only.ts failed: ${run.stderr}`);
  let sum = 0;
  for (const match of run.stdout.matchAll(/allocated=(\d+)/g)) sum += Number(match[1]);
  return sum;
}

const [small, large] = [4000, 12000];
const perExchange = (allocatedBytes(large) - allocatedBytes(small)) / (large - small);
console.log(`engine alone: ${(perExchange / 1024).toFixed(1)} KiB allocated per exchange (JS heap)`);
