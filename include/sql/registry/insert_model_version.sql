INSERT INTO model_versions (
    model_version, model_name, candidate, run_id, data_interval_start_at, data_interval_end_at,
    holdout_start_at, trained_at, train_rows, holdout_rows, params, metrics, comparison,
    primary_metric, decision, is_champion, artifact_uri, code_version
) VALUES (
    :model_version, :model_name, :candidate, :run_id, :data_interval_start_at, :data_interval_end_at,
    :holdout_start_at, :trained_at, :train_rows, :holdout_rows, :params, :metrics, :comparison,
    :primary_metric, :decision, 0, :artifact_uri, :code_version
);
