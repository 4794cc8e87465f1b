-- Calls that failed by the request's shape, not the model, per candidate and reason (error code or status); they
-- are in no other query (needs shadow-log.sql).
SELECT target AS candidate, reason, count(*) AS request_faults
FROM request_fault
GROUP BY ALL
ORDER BY candidate, reason;
