-- Every model one training run produced (candidates and the refit that serves), best first.
SELECT candidate, model_version, role, refit_of, decision, decision_reason, is_champion,
       primary_metric, primary_ci_low, primary_ci_high, metrics, comparison, train_rows,
       holdout_rows, trained_at
FROM model_versions
WHERE model_name = :model_name AND run_id = :run_id
ORDER BY role, primary_metric DESC;
