/**
 * The DuckDB queries of sql/ give the same core figures as the Node report on the same generated log, so the
 * "At scale" page never drifts from the report: match and noise-free match per route and candidate, latency
 * percentiles, error counts and the label matrix.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildReport, type Report } from '../lib/report/index.js';
import { seededRandom } from '../lib/report/stats/random.js';

const SQL_DIR = new URL('../sql/', import.meta.url);
const T0 = Date.parse('2024-05-01T10:00:00.000Z');
const ROUTES = ['/predict', '/classify/:id', '/embed'];
const LABELS = ['cat', 'dog', 'bird'];
const CANDIDATES = ['v2', 'v3'];

/** Requests to two candidates and a secondary, with mismatches, noise, errors, 5xx and skips; every record inside the join window. */
function generate(requests: number): string[] {
  const random = seededRandom(7);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  const lines: object[] = [];
  for (let i = 0; i < requests; i++) {
    const t = T0 + i * 50;
    const requestId = `r${i}`;
    const route = pick(ROUTES);
    const timestamp = new Date(t).toISOString();
    if (random() < 0.02) {
      lines.push({ type: 'skipped', requestId, timestamp, reason: pick(['queue_full', 'body_too_large']), method: 'POST', path: route, route });
      continue;
    }
    const label = pick(LABELS);
    lines.push({
      type: 'production', requestId, timestamp, method: 'POST', path: `${route}?x=1`, route: random() < 0.1 ? null : route, status: 200,
      durationMs: Math.round(random() * 900 + 10) / 10, targets: [...CANDIDATES, 'replica'],
      request: { headers: { 'content-type': 'application/json' }, bodySource: 'raw', body: { x: i } },
      response: { headers: {}, body: { label, at: t } },
    });
    const secondaryAnswered = random() < 0.8;
    lines.push({ type: 'shadow', requestId, timestamp, target: 'replica', role: 'secondary', status: 200, durationMs: 5, response: { headers: {}, body: { label, at: t + 1 } } });
    lines.push({ type: 'comparison', requestId, timestamp, target: 'replica', role: 'secondary', statusMatch: true, match: false, differences: [{ path: '$.at', production: t, shadow: t + 1 }], latencyDeltaMs: 0 });
    for (const target of CANDIDATES) {
      const roll = random();
      // Request faults: refused before sending, or the candidate's server refusing the request's shape.
      if (roll > 0.98) {
        if (roll > 0.99) lines.push({ type: 'shadow', requestId, timestamp, target, durationMs: 0, requestFault: true, error: { code: 'request_headers_too_large', message: 'too large' } });
        else {
          lines.push({ type: 'shadow', requestId, timestamp, target, status: 431, durationMs: 2, requestFault: true, response: { headers: {} } });
          lines.push({ type: 'comparison', requestId, timestamp, target, statusMatch: false, match: false, differences: [], latencyDeltaMs: 1 });
        }
        continue;
      }
      if (roll < 0.03) {
        lines.push({ type: 'shadow', requestId, timestamp, target, durationMs: 5000, error: { code: random() < 0.6 ? 'timeout' : 'ECONNRESET', message: 'failed' } });
        continue;
      }
      const status = roll < 0.05 ? 503 : 200;
      const shadowLabel = random() < (target === 'v2' ? 0.1 : 0.2) ? pick(LABELS) : label;
      lines.push({ type: 'shadow', requestId, timestamp, target, status, durationMs: Math.round(random() * 1500 + 10) / 10, response: { headers: {}, body: { label: shadowLabel, at: t + 2 } } });
      const differences = [{ path: '$.at', production: t, shadow: t + 2 }];
      if (shadowLabel !== label) differences.push({ path: '$.label', production: label as never, shadow: shadowLabel as never });
      lines.push({
        type: 'comparison', requestId, timestamp, target, statusMatch: status === 200, match: false, differences, latencyDeltaMs: 1,
        ...(secondaryAnswered ? { noise: ['$.at'], matchWithoutNoise: status === 200 && shadowLabel === label } : {}),
      });
    }
  }
  return lines.map((l) => JSON.stringify(l));
}

let dir: string;
let report: Report;
let db: DuckDBInstance;
let connection: DuckDBConnection;

async function query(file: string): Promise<Record<string, unknown>[]> {
  const reader = await connection.runAndReadAll(await readFile(new URL(file, SQL_DIR), 'utf8'));
  return reader.getRowObjectsJson() as Record<string, unknown>[];
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'express-shadow-sql-'));
  const lines = generate(3000);
  const half = Math.floor(lines.length / 2);
  // Two files, one gzipped, as rotation leaves them; both read through one glob.
  await writeFile(join(dir, 'shadow.log.1.gz'), gzipSync(lines.slice(0, half).join('\n') + '\n'));
  await writeFile(join(dir, 'shadow.log'), lines.slice(half).join('\n') + '\n');
  report = await buildReport([join(dir, 'shadow.log*')], { labelPath: '$.label' });
  db = await DuckDBInstance.create(':memory:', { threads: '2' });
  connection = await db.connect();
  await connection.run(`SET VARIABLE shadow_log_files = '${join(dir, 'shadow.log*')}'`);
  await connection.run(await readFile(new URL('shadow-log.sql', SQL_DIR), 'utf8'));
});

afterAll(async () => {
  connection?.closeSync();
  db?.closeSync();
  await rm(dir, { recursive: true, force: true });
});

describe('sql/ on DuckDB against the Node report', () => {
  it('gives the same match and noise-free match per route and per candidate', async () => {
    const rows = await query('match-by-route-and-candidate.sql');
    const sum = (filter: (r: Record<string, unknown>) => boolean, field: string): number =>
      rows.filter(filter).reduce((n, r) => n + Number(r[field]), 0);
    expect(report.match.byRoute.length).toBe(ROUTES.length);
    for (const route of report.match.byRoute) {
      expect(sum((r) => r.route === route.route, 'comparisons')).toBe(route.match.total);
      expect(sum((r) => r.route === route.route, 'matches')).toBe(route.match.count);
    }
    expect(report.match.byTarget.map((t) => t.target)).toEqual(CANDIDATES);
    for (const target of report.match.byTarget) {
      expect(sum((r) => r.candidate === target.target, 'comparisons')).toBe(target.match.total);
      expect(sum((r) => r.candidate === target.target, 'matches')).toBe(target.match.count);
      expect(sum((r) => r.candidate === target.target, 'noise_aware')).toBe(target.withoutNoise.total);
      expect(sum((r) => r.candidate === target.target, 'noise_free_matches')).toBe(target.withoutNoise.count);
    }
    expect(report.match.withoutNoise.count).toBeGreaterThan(0);
  });

  it('gives the same latency percentiles, within the report histogram’s 2%', async () => {
    const rows = await query('latency-percentiles.sql');
    const overall = (side: string) => rows.find((r) => r.side === side && r.route === null) as Record<string, number>;
    const close = (sql: unknown, node: number | null) => expect(Math.abs(Number(sql) - (node as number)) / (node as number)).toBeLessThan(0.025);
    const production = overall('production');
    expect(Number(production.samples)).toBe(report.latency.production.count);
    for (const q of ['p50', 'p90', 'p99'] as const) close(production[q], report.latency.production[q]);
    expect(Number(production.max)).toBe(report.latency.production.max);
    for (const target of report.match.byTarget) {
      const row = overall(target.target);
      expect(Number(row.samples)).toBe(target.latency.count);
      for (const q of ['p50', 'p90', 'p99'] as const) close(row[q], target.latency[q]);
    }
    for (const route of report.match.byRoute) {
      const row = rows.find((r) => r.side === 'production' && r.route === route.route) as Record<string, number>;
      close(row.p50, route.productionP50);
      close(row.p99, route.productionP99);
    }
  });

  it('gives the same shadow errors by code, timeouts and 5xx per candidate', async () => {
    const rows = await query('error-counts.sql');
    const byCode: Record<string, number> = {};
    for (const row of rows.filter((r) => r.error_code !== null)) {
      byCode[row.error_code as string] = (byCode[row.error_code as string] ?? 0) + Number(row.errors);
    }
    expect(byCode).toEqual(report.totals.shadowErrorsByCode);
    for (const target of report.match.byTarget) {
      const all = rows.find((r) => r.candidate === target.target && r.error_code === null) as Record<string, unknown>;
      expect(Number(all.calls)).toBe(target.shadowCalls);
      expect(Number(all.errors)).toBe(target.shadowErrors);
      expect(Number(all.timeouts)).toBe(target.timeouts);
      expect(Number(all.shadow_5xx)).toBe(target.shadow5xx);
    }
  });

  it('gives the same request faults, left out of every other figure', async () => {
    const rows = await query('request-faults.sql');
    const byReason: Record<string, number> = {};
    for (const row of rows) byReason[row.reason as string] = (byReason[row.reason as string] ?? 0) + Number(row.request_faults);
    expect(report.totals.requestFaults).toBeGreaterThan(0);
    expect(byReason).toEqual(report.totals.requestFaultsByReason);
  });

  it('gives the same label matrix', async () => {
    const rows = await query('label-matrix.sql');
    const labels = report.labels;
    expect(labels?.labels).toEqual([...LABELS].sort());
    const matrix = labels?.labels.map((p) =>
      labels.labels.map((s) => rows.filter((r) => r.production_label === p && r.shadow_label === s).reduce((n, r) => n + Number(r.requests), 0)),
    );
    expect(matrix).toEqual(labels?.matrix);
  });

  it('counts a log given twice (plain and gzipped) once', async () => {
    const copy = join(dir, 'copy');
    await writeFile(`${copy}.log.gz`, gzipSync(await readFile(join(dir, 'shadow.log'))));
    await connection.run(`SET VARIABLE shadow_log_files = ['${join(dir, 'shadow.log*')}', '${copy}.log.gz']`);
    try {
      const rows = await query('match-by-route-and-candidate.sql');
      expect(rows.reduce((n, r) => n + Number(r.comparisons), 0)).toBe(report.totals.comparisons);
    } finally {
      await connection.run(`SET VARIABLE shadow_log_files = '${join(dir, 'shadow.log*')}'`);
    }
  });
});
