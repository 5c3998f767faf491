SELECT model_version, candidate, holdout_start_at, data_interval_end_at, params, metrics,
       primary_metric, artifact_uri, trained_at
FROM model_versions
WHERE model_name = :model_name AND is_champion = 1;
