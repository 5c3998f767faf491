-- The newest validation run: checks per outcome.
SELECT severity, COUNT(*) AS checks
FROM data_quality_runs
WHERE run_id = (SELECT run_id FROM data_quality_runs ORDER BY checked_at DESC LIMIT 1)
GROUP BY severity
ORDER BY severity;
