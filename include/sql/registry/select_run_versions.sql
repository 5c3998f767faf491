SELECT model_version, model_name, candidate, role, refit_of, run_id, decision, decision_reason,
       is_champion, primary_metric, primary_ci_low, primary_ci_high, metrics, comparison, params,
       train_rows, holdout_rows, trained_at, artifact_uri
FROM model_versions
WHERE model_name = :model_name
ORDER BY trained_at DESC, model_version;
