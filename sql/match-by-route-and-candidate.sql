-- Match and noise-free match per route and candidate (needs shadow-log.sql).
-- noise_free_* count only comparisons that carry matchWithoutNoise (a secondary answered that request).
SELECT
  coalesce(p.route, '(unknown)') AS route,
  c.target AS candidate,
  count(*) AS comparisons,
  count(*) FILTER (WHERE c.match) AS matches,
  count(*) FILTER (WHERE c.match) / count(*) AS match_rate,
  count(c.matchWithoutNoise) AS noise_aware,
  count(*) FILTER (WHERE c.matchWithoutNoise) AS noise_free_matches,
  count(*) FILTER (WHERE c.matchWithoutNoise) / nullif(count(c.matchWithoutNoise), 0) AS noise_free_match_rate
FROM candidate_comparison AS c
LEFT JOIN production AS p USING (requestId)
GROUP BY ALL
ORDER BY route, candidate;
