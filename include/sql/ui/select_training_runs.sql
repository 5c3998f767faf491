-- The newest training runs of one model name, newest first.
SELECT run_id, MAX(trained_at) AS trained_at, MAX(holdout_start_at) AS holdout_start_at
FROM model_versions
WHERE model_name = :model_name AND role = 'candidate'
GROUP BY run_id
ORDER BY MAX(trained_at) DESC
LIMIT :limit;
