-- The candidates of the newest training run of one model name, with their decision.
SELECT candidate, model_version, decision, is_champion, primary_metric, metrics, comparison,
       train_rows, holdout_rows
FROM model_versions
WHERE model_name = :model_name
  AND run_id = (SELECT run_id FROM model_versions WHERE model_name = :model_name
                ORDER BY trained_at DESC LIMIT 1)
ORDER BY primary_metric DESC;
