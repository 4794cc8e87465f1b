-- Latency percentiles (nearest rank) of production and of each candidate, overall (route NULL) and per route
-- (needs shadow-log.sql). Failed shadow calls have no latency to compare and are left out.
WITH samples AS (
  SELECT 'production' AS side, route, durationMs FROM production
  UNION ALL
  SELECT s.target AS side, coalesce(p.route, '(unknown)') AS route, s.durationMs
  FROM candidate_shadow AS s
  LEFT JOIN production AS p USING (requestId)
  WHERE s.error_code IS NULL
)
SELECT
  side,
  route,
  count(*) AS samples,
  quantile_disc(durationMs, 0.5) AS p50,
  quantile_disc(durationMs, 0.9) AS p90,
  quantile_disc(durationMs, 0.99) AS p99,
  max(durationMs) AS max
FROM samples
WHERE durationMs IS NOT NULL
GROUP BY GROUPING SETS ((side), (side, route))
ORDER BY side, route NULLS FIRST;
