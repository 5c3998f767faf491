-- The newest validation runs, newest first: what the page offers to look at.
SELECT run_id, MIN(data_interval_start_at) AS data_interval_start_at,
       MAX(data_interval_end_at) AS data_interval_end_at, MAX(checked_at) AS checked_at
FROM data_quality_runs
GROUP BY run_id
ORDER BY MAX(checked_at) DESC
LIMIT :limit;
