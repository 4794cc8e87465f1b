/**
 * The report's core figures in DuckDB, written as a user who wants DuckDB's real speed would write them: one
 * `read_ndjson` scan that declares only the columns it reads (the requestId as a UUID, `response` and `error` as the
 * partial STRUCTs the figures need) into a table, then the join by requestId and the aggregates: match per route and
 * candidate, latency percentiles, error counts and the label matrix. Prints the wall time it measures itself (from
 * before DuckDB starts to the last row read) and, with --figures, the figures.
 *
 *   node --import tsx bench/duckdb-sql.ts 'logs/*' [threads] [--figures]
 */
import { DuckDBInstance } from '@duckdb/node-api';

const args = process.argv.slice(2).filter((a) => a !== '--figures');
const printFigures = process.argv.includes('--figures');
const [files = 'bench/results/logs/*', threads = '2'] = args;

const SCAN = `
CREATE TEMP TABLE log AS
SELECT * FROM read_ndjson(?, ignore_errors = true, columns = {
  type: 'VARCHAR', requestId: 'UUID', target: 'VARCHAR', role: 'VARCHAR', route: 'VARCHAR', path: 'VARCHAR',
  status: 'INTEGER', durationMs: 'DOUBLE', match: 'BOOLEAN', matchWithoutNoise: 'BOOLEAN',
  response: 'STRUCT(body STRUCT(label VARCHAR))', error: 'STRUCT(code VARCHAR)'
});
CREATE TEMP TABLE production AS
SELECT DISTINCT ON (requestId) requestId, coalesce(route, split_part(path, '?', 1)) AS route, status, durationMs, response.body.label AS label
FROM log WHERE type = 'production';
CREATE TEMP TABLE shadow AS
SELECT DISTINCT ON (requestId, target) requestId, target, status, durationMs, error.code AS error_code, response.body.label AS label
FROM log WHERE type = 'shadow' AND role IS DISTINCT FROM 'secondary';
CREATE TEMP TABLE comparison AS
SELECT DISTINCT ON (requestId, target) requestId, target, match, matchWithoutNoise
FROM log WHERE type = 'comparison' AND role IS DISTINCT FROM 'secondary';
`;

const FIGURES: Record<string, string> = {
  match: `
    SELECT coalesce(p.route, '(unknown)') AS route, c.target, count(*) AS comparisons, count(*) FILTER (WHERE c.match) AS matches,
           count(c.matchWithoutNoise) AS noise_aware, count(*) FILTER (WHERE c.matchWithoutNoise) AS noise_free_matches
    FROM comparison c LEFT JOIN production p USING (requestId) GROUP BY ALL ORDER BY ALL`,
  latency: `
    WITH samples AS (
      SELECT 'production' AS side, route, durationMs FROM production
      UNION ALL
      SELECT s.target, coalesce(p.route, '(unknown)'), s.durationMs FROM shadow s LEFT JOIN production p USING (requestId) WHERE s.error_code IS NULL
    )
    SELECT side, route, count(*) AS samples, quantile_disc(durationMs, 0.5) AS p50, quantile_disc(durationMs, 0.99) AS p99, max(durationMs) AS max
    FROM samples WHERE durationMs IS NOT NULL GROUP BY GROUPING SETS ((side), (side, route)) ORDER BY side, route NULLS FIRST`,
  errors: `
    SELECT target, count(*) AS calls, count(error_code) AS errors, count(*) FILTER (WHERE error_code = 'timeout') AS timeouts,
           count(*) FILTER (WHERE error_code IS NULL AND status >= 500) AS shadow_5xx
    FROM shadow GROUP BY target ORDER BY target`,
  labels: `
    SELECT s.target, p.label AS production_label, s.label AS shadow_label, count(*) AS requests
    FROM production p JOIN shadow s USING (requestId)
    WHERE s.error_code IS NULL AND p.label IS NOT NULL AND s.label IS NOT NULL GROUP BY ALL ORDER BY ALL`,
};

const started = process.hrtime.bigint();
const db = await DuckDBInstance.create(':memory:', { threads });
const connection = await db.connect();
const prepared = await connection.prepare(SCAN.split(';')[0] as string);
prepared.bindVarchar(1, files);
await prepared.run();
for (const statement of SCAN.split(';').slice(1)) if (statement.trim() !== '') await connection.run(statement);
const figures: Record<string, unknown[]> = {};
for (const [name, sql] of Object.entries(FIGURES)) figures[name] = (await connection.runAndReadAll(sql)).getRowObjectsJson();
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
connection.closeSync();
db.closeSync();
console.log(JSON.stringify({ threads: Number(threads), rows: Object.fromEntries(Object.entries(figures).map(([k, v]) => [k, v.length])), seconds, ...(printFigures ? { figures } : {}) }));
