/**
 * The demo end to end: `demo-app/run.ts` with small traffic, as `npm run demo` runs it (the package imported by its
 * name from dist/, which `npm test` builds first). Servers, log, report and shutdown are all real.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import type { ComparisonRecord, ProductionRecord, Report, ShadowLogRecord, ShadowRecord, SkippedRecord } from '../lib/index.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const REQUESTS = 40;

interface RunManifest {
  pids: Record<string, number>;
  logFile: string;
  reports: { html: string; json: string };
  traffic: { sent: number; byStatus: Record<string, number>; errors: Record<string, number>; requestIds: string[] };
  exits: Record<string, { code: number | null; signal: string | null }>;
}

const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

/** Runs the orchestrator into a temporary directory; `interruptWhen` sends it SIGINT once its stdout matches. */
async function runDemo(args: string[], interruptWhen?: RegExp): Promise<{ code: number | null; stdout: string; stderr: string; dir: string }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'express-shadow-demo-'));
  dirs.push(dir);
  const child = spawn(process.execPath, ['--import', 'tsx', 'demo-app/run.ts', ...args, '--log-dir', dir, '--out-dir', dir], {
    cwd: ROOT,
    env: { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  let interrupted = false;
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
    if (interruptWhen && !interrupted && interruptWhen.test(stdout)) {
      interrupted = true;
      // Let some requests through first, so some are in flight when Ctrl-C lands.
      setTimeout(() => child.kill('SIGINT'), 500);
    }
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, stdout, stderr, dir };
}

async function readManifest(dir: string): Promise<RunManifest> {
  return JSON.parse(await readFile(path.join(dir, 'run.json'), 'utf8')) as RunManifest;
}

async function readLog(file: string): Promise<ShadowLogRecord[]> {
  return (await readFile(file, 'utf8'))
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => JSON.parse(line) as ShadowLogRecord);
}

function expectNoServerLeft(manifest: RunManifest): void {
  expect(Object.keys(manifest.pids).sort()).toEqual(['gateway', 'v1', 'v2']);
  for (const [name, pid] of Object.entries(manifest.pids)) {
    expect(isAlive(pid), `${name} (pid ${pid}) is still running`).toBe(false);
    // Each left on the SIGTERM it was sent, after its drain; none had to be killed.
    expect(manifest.exits[name], `${name} did not stop cleanly`).toEqual({ code: 0, signal: null });
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw error;
  }
}

describe('npm run demo', () => {
  it(
    'logs every request as a production/shadow pair, reports exactly the traffic sent, and leaves no server running',
    async () => {
      const { code, stdout, stderr, dir } = await runDemo(['--requests', String(REQUESTS), '--rate', '200', '--concurrency', '4']);
      expect(code, `demo exited with ${code}\n--- stdout\n${stdout}\n--- stderr\n${stderr}`).toBe(0);
      const manifest = await readManifest(dir);
      expectNoServerLeft(manifest);

      // The traffic: every request answered by production.
      expect(manifest.traffic.sent).toBe(REQUESTS);
      expect(manifest.traffic.byStatus).toEqual({ '200': REQUESTS });
      expect(manifest.traffic.errors).toEqual({});

      // The log pairs up: one production and one shadow record per mirrored request, joined by requestId.
      const records = await readLog(manifest.logFile);
      const production = records.filter((r): r is ProductionRecord => r.type === 'production');
      const shadows = records.filter((r): r is ShadowRecord => r.type === 'shadow');
      const comparisons = records.filter((r): r is ComparisonRecord => r.type === 'comparison');
      const skipped = records.filter((r): r is SkippedRecord => r.type === 'skipped');
      const productionIds = new Set(production.map((r) => r.requestId));
      expect(productionIds.size).toBe(production.length);
      expect(production.length).toBe(REQUESTS - skipped.length);
      expect(new Set(shadows.map((r) => r.requestId))).toEqual(productionIds);
      expect(shadows.length).toBe(production.length);
      // Every answer the client got carries the id its records are logged under.
      expect(new Set(manifest.traffic.requestIds)).toEqual(new Set([...productionIds, ...skipped.map((r) => r.requestId)]));
      // Production answered from v1, the shadow from v2, on the same request body.
      for (const record of production) {
        expect(record.path).toBe('/predict');
        expect(record.response.body).toMatchObject({ version: 'v1' });
      }
      const answered = shadows.filter((r) => r.status === 200);
      for (const record of answered) expect(record.response?.body).toMatchObject({ version: 'v2' });
      // A comparison for every shadow that answered (failures are logged with their error, not compared).
      expect(new Set(comparisons.map((r) => r.requestId))).toEqual(new Set(shadows.filter((r) => r.status !== undefined).map((r) => r.requestId)));
      // /health (the orchestrator's readiness check) is not mirrored.
      expect(records.some((r) => 'path' in r && r.path === '/health')).toBe(false);

      // The report counts what was sent and logged.
      const report = JSON.parse(await readFile(manifest.reports.json, 'utf8')) as Report;
      expect(report.totals.requestsSeen).toBe(REQUESTS);
      expect(report.totals.production).toBe(production.length);
      expect(report.totals.shadowCalls).toBe(shadows.length);
      expect(report.totals.comparisons).toBe(comparisons.length);
      expect(report.totals.skipped).toBe(skipped.length);
      expect(report.totals.shadowErrors + report.totals.shadow5xx).toBe(shadows.filter((r) => r.status !== 200).length);
      expect(report.match.overall.total).toBe(comparisons.length);
      expect(report.match.overall.count).toBe(comparisons.filter((r) => r.match).length);
      // The confusion matrix holds every pair where both models gave a label.
      expect(report.labels?.path).toBe('$.label');
      const matrixTotal = (report.labels?.matrix ?? []).flat().reduce((sum, n) => sum + n, 0);
      expect(matrixTotal).toBe(answered.length);

      // What the person running it sees: the text report, where the HTML one went.
      expect(stdout).toContain('Labels at $.label');
      expect(stdout).toContain('Latency (ms)');
      expect(stdout).toContain(`HTML report: ${manifest.reports.html}`);
      expect(await readFile(manifest.reports.html, 'utf8')).toMatch(/^<!doctype html>/i);
    },
    60_000,
  );

  it(
    'on Ctrl-C stops the traffic, drains the shadow and reports what was sent, with the log complete',
    async () => {
      const { code, stdout, stderr, dir } = await runDemo(['--requests', '5000', '--rate', '100', '--concurrency', '8'], /Sending 5000 requests/);
      expect(code, `demo exited with ${code}\n--- stdout\n${stdout}\n--- stderr\n${stderr}`).toBe(130);
      expect(stdout).toContain('Ctrl-C: no new requests');
      const manifest = await readManifest(dir);
      expectNoServerLeft(manifest);

      const sent = manifest.traffic.sent;
      expect(sent).toBeGreaterThan(0);
      expect(sent).toBeLessThan(5000);
      expect(manifest.traffic.byStatus).toEqual({ '200': sent });

      // Nothing half-written: every request the client saw answered has its records, every production its shadow.
      const records = await readLog(manifest.logFile);
      const production = records.filter((r) => r.type === 'production');
      const skipped = records.filter((r) => r.type === 'skipped');
      expect(production.length + skipped.length).toBe(sent);
      expect(new Set(records.filter((r) => r.type === 'shadow').map((r) => r.requestId))).toEqual(new Set(production.map((r) => r.requestId)));
      expect(records.at(-1)?.type).toBe('summary');

      const report = JSON.parse(await readFile(manifest.reports.json, 'utf8')) as Report;
      expect(report.totals.requestsSeen).toBe(sent);
      expect(report.totals.orphans).toEqual({ noShadow: 0, noProduction: 0, late: 0 });
    },
    60_000,
  );
});
