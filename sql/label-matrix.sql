-- Label matrix: production's label against each candidate's, for answered shadow calls (needs shadow-log.sql).
-- The label is at $.label of both bodies; change both paths to yours (the report's --label-path).
SELECT
  s.target AS candidate,
  p.body ->> '$.label' AS production_label,
  s.body ->> '$.label' AS shadow_label,
  count(*) AS requests
FROM production AS p
JOIN candidate_shadow AS s USING (requestId)
WHERE s.error_code IS NULL AND production_label IS NOT NULL AND shadow_label IS NOT NULL
GROUP BY ALL
ORDER BY ALL;
