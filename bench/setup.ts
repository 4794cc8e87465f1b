/**
 * What the bench runner and the soak share: the request the load sends, the machine description, CPU pinning,
 * and starting the model servers and the app under test as child processes.
 */
import { spawnSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ShadowStats } from '../lib/index.js';
import { canPin, startChild, type Child } from './child.js';

export const benchDir = path.dirname(fileURLToPath(import.meta.url));
const resultsDir = path.join(benchDir, 'results');

/** A typical `/predict` call: a short text and a feature vector, 333 bytes of JSON. */
export const requestBody = Buffer.from(
  JSON.stringify({
    text: 'This product is great and the delivery was fast. '.repeat(4),
    userId: 'u-123',
    features: Array.from({ length: 16 }, (_, i) => i / 16),
  }),
);
export const requestHeaders = { 'content-type': 'application/json' };

export interface Usage {
  cpu: { user: number; system: number };
  rss: number;
  served: number;
  errors: number;
  eventLoopDelay: { p99: number; max: number };
  stats?: ShadowStats;
}

interface Machine {
  cpus: number;
  cpuModel: string;
  node: string;
  os: string;
  memoryGiB: number;
  pinning: string;
}

/**
 * With 2+ CPUs and `taskset`, the app gets CPU 0 to itself and everything else (this process, the load generator,
 * the model servers) shares the others, so the app's CPU time and latency are its own.
 */
interface Pinning {
  app: string | undefined;
  others: string | undefined;
}

export function choosePinning(enabled: boolean): Pinning {
  const cpus = os.cpus().length;
  if (!enabled || cpus < 2 || !canPin()) return { app: undefined, others: undefined };
  const others = cpus === 2 ? '1' : `1-${cpus - 1}`;
  // This process (and the load generator in it) moves off the app's CPU too; -a covers its threads.
  spawnSync('taskset', ['-a', '-p', '-c', others, String(process.pid)], { stdio: 'ignore' });
  return { app: '0', others };
}

export function describeMachine(pinning: Pinning): Machine {
  const cpus = os.cpus();
  return {
    cpus: cpus.length,
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    node: process.version,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    pinning:
      pinning.app === undefined
        ? 'none'
        : `app's main thread on CPU ${pinning.app} (its worker and threadpool threads on any CPU); load generator and model servers on CPU ${pinning.others}`,
  };
}

type Models = Child<{ ports: Record<string, number> }>;
export type App = Child<{ port: number }> & { url: string; name: string; logFile: string | undefined };

export async function startModels(roles: string[], pinning: Pinning, extra: string[] = []): Promise<Models> {
  return startChild('models.ts', ['--roles', roles.join(','), ...extra], { cpus: pinning.others, label: `models(${roles.join(',')})` });
}

export interface AppSpec {
  name: string;
  mode: 'plain' | 'mirror' | 'sampled';
  prodUrl: string;
  shadowUrl?: string;
  logFile?: string;
  sampleRate?: number;
  timeoutMs?: number;
  cooldownMs?: number;
  lib?: string | undefined;
}

export async function startApp(spec: AppSpec): Promise<App> {
  const args = ['--mode', spec.mode, '--prod-url', spec.prodUrl];
  if (spec.shadowUrl) args.push('--shadow-url', spec.shadowUrl);
  if (spec.logFile) args.push('--log-file', spec.logFile);
  if (spec.sampleRate !== undefined) args.push('--sample-rate', String(spec.sampleRate));
  if (spec.timeoutMs !== undefined) args.push('--timeout-ms', String(spec.timeoutMs));
  if (spec.cooldownMs !== undefined) args.push('--cooldown-ms', String(spec.cooldownMs));
  if (spec.lib) args.push('--lib', spec.lib);
  // Started unpinned, so the threads it starts (the engine's worker, libuv's pool) may use any CPU; pinMainThread()
  // then gives CPU 0 to its main thread alone, the one production runs on.
  const child = await startChild<{ port: number }>('app.ts', args, { label: `app ${spec.name}`, nodeArgs: ['--expose-gc'] });
  return Object.assign(child, { url: `http://127.0.0.1:${child.ready.port}/predict`, name: spec.name, logFile: spec.logFile });
}

/** Pins the app's main thread (its tid is the pid; without -a taskset moves only that thread) to the app's CPU. */
export function pinMainThread(app: App, pinning: Pinning): void {
  if (pinning.app !== undefined) spawnSync('taskset', ['-p', '-c', pinning.app, String(app.pid)], { stdio: 'ignore' });
}

/** The commit the bench ran against, and lib/ files changed since it (the figures belong to that state). */
export function libRevision(): { commit: string; changedLibFiles: string[] } {
  const git = (args: string[]) => spawnSync('git', args, { cwd: path.dirname(benchDir), encoding: 'utf8' }).stdout?.trim() ?? '';
  return {
    commit: git(['rev-parse', '--short', 'HEAD']) || 'unknown',
    changedLibFiles: git(['status', '--porcelain', '--', 'lib']).split('\n').filter(Boolean).map((line) => line.slice(3)),
  };
}

export interface HeapUsage {
  heapUsed: number;
  external: number;
  arrayBuffers: number;
  rss: number;
}

export function cpuMicros(usage: Usage): number {
  return usage.cpu.user + usage.cpu.system;
}

/** `YYYY-MM-DD` of today, for result file names. */
function today(): string {
  return new Date().toISOString().slice(0, 10);
}

export async function writeResult(name: string, data: unknown): Promise<string> {
  await mkdir(resultsDir, { recursive: true });
  const file = path.join(resultsDir, `${today()}-${name}.json`);
  await writeFile(file, `${JSON.stringify(data, null, 2)}\n`);
  return path.relative(process.cwd(), file);
}
