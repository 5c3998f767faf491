INSERT INTO model_versions (
    model_version, model_name, candidate, role, refit_of, run_id, data_interval_start_at,
    data_interval_end_at, holdout_start_at, trained_at, train_rows, holdout_rows, params, metrics,
    comparison, primary_metric, primary_ci_low, primary_ci_high, decision, decision_reason,
    is_champion, artifact_uri, code_version
) VALUES (
    :model_version, :model_name, :candidate, :role, :refit_of, :run_id, :data_interval_start_at,
    :data_interval_end_at, :holdout_start_at, :trained_at, :train_rows, :holdout_rows, :params, :metrics,
    :comparison, :primary_metric, :primary_ci_low, :primary_ci_high, :decision, :decision_reason,
    0, :artifact_uri, :code_version
);
