SELECT model_version, model_name, candidate, decision, is_champion, primary_metric, metrics,
       comparison, train_rows, holdout_rows, trained_at
FROM model_versions
WHERE model_name = :model_name
ORDER BY trained_at DESC, model_version;
