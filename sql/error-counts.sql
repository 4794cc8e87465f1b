-- Shadow calls, failures by code, timeouts and 5xx answers per candidate (needs shadow-log.sql).
-- error_code NULL is the row of all calls of that candidate.
SELECT
  target AS candidate,
  error_code,
  count(*) AS calls,
  count(*) FILTER (WHERE error_code IS NOT NULL) AS errors,
  count(*) FILTER (WHERE error_code = 'timeout') AS timeouts,
  count(*) FILTER (WHERE error_code IS NULL AND status >= 500) AS shadow_5xx
FROM candidate_shadow
GROUP BY GROUPING SETS ((target), (target, error_code))
HAVING error_code IS NOT NULL OR GROUPING(error_code) = 1
ORDER BY candidate, error_code NULLS FIRST;
