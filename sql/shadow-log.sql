-- express-shadow logs as DuckDB views; every other query in this folder reads them.
-- Point them at the files first (globs, .gz by extension, s3:// and https:// with the httpfs extension):
--   SET VARIABLE shadow_log_files = 'logs/shadow*.log*';
-- Columns are declared, not inferred, so files whose bodies differ in shape read alike; nested parts stay JSON.
-- Lines that are not JSON are skipped (ignore_errors), as the Node reader counts and skips them.
CREATE OR REPLACE VIEW shadow_log_raw AS
SELECT *
FROM read_json(getvariable('shadow_log_files'), format = 'newline_delimited', ignore_errors = true, columns = {
  type: 'VARCHAR', requestId: 'VARCHAR', timestamp: 'VARCHAR', target: 'VARCHAR', role: 'VARCHAR',
  method: 'VARCHAR', path: 'VARCHAR', route: 'VARCHAR', status: 'INTEGER', durationMs: 'DOUBLE',
  reason: 'VARCHAR', response: 'JSON', error: 'JSON', requestFault: 'BOOLEAN',
  match: 'BOOLEAN', statusMatch: 'BOOLEAN', matchWithoutNoise: 'BOOLEAN', differences: 'JSON', latencyDeltaMs: 'DOUBLE'
});

-- Every request record once per (requestId, type, target): a log given twice (plain and gzipped, overlapping globs)
-- counts once. The views below de-duplicate on their own columns only, so a query reads no more of the JSON than it uses.
CREATE OR REPLACE VIEW shadow_log AS
SELECT DISTINCT ON (requestId, type, target) *
FROM shadow_log_raw
WHERE type IN ('production', 'shadow', 'comparison', 'skipped') AND requestId IS NOT NULL;

-- Production answers, with the route the report groups by: the matched pattern, else the path without its query.
CREATE OR REPLACE VIEW production AS
SELECT DISTINCT ON (requestId) requestId, coalesce(route, split_part(path, '?', 1)) AS route, status, durationMs, response -> '$.body' AS body
FROM shadow_log_raw
WHERE type = 'production' AND requestId IS NOT NULL;

-- Calls that failed by the request's shape, not the model (`requestFault`): in no other view, as in the report.
CREATE OR REPLACE VIEW request_fault AS
SELECT DISTINCT ON (requestId, target) requestId, target, coalesce(error ->> '$.code', CAST(status AS VARCHAR)) AS reason
FROM shadow_log_raw
WHERE type = 'shadow' AND requestFault AND requestId IS NOT NULL;

-- Shadow calls of the candidates (a `secondary` production replica only measures noise).
CREATE OR REPLACE VIEW candidate_shadow AS
SELECT DISTINCT ON (requestId, target) requestId, target, status, durationMs, error ->> '$.code' AS error_code, response -> '$.body' AS body
FROM shadow_log_raw
WHERE type = 'shadow' AND role IS DISTINCT FROM 'secondary' AND requestFault IS NOT TRUE AND requestId IS NOT NULL;

CREATE OR REPLACE VIEW candidate_comparison AS
SELECT DISTINCT ON (requestId, target) requestId, target, match, statusMatch, matchWithoutNoise
FROM shadow_log_raw ANTI JOIN request_fault USING (requestId, target)
WHERE type = 'comparison' AND role IS DISTINCT FROM 'secondary' AND requestId IS NOT NULL;
