-- The candidates of the newest training run of one model name, with the gate's decision.
SELECT candidate, model_version, decision, decision_reason, is_champion, primary_metric,
       primary_ci_low, primary_ci_high, metrics, comparison, train_rows, holdout_rows
FROM model_versions
WHERE model_name = :model_name AND role = 'candidate'
  AND run_id = (SELECT run_id FROM model_versions WHERE model_name = :model_name AND role = 'candidate'
                ORDER BY trained_at DESC LIMIT 1)
ORDER BY primary_metric DESC;
