-- The serving model of a model name, with the evaluated candidate it stands on (itself when it
-- is not a refit): that candidate's artifact is what tonight's candidates are judged against.
SELECT c.model_version, c.candidate, c.params, c.artifact_uri,
       e.model_version AS evaluated_version, e.artifact_uri AS evaluated_artifact_uri,
       e.holdout_start_at AS evaluated_holdout_start_at
FROM model_versions c
JOIN model_versions e ON e.model_version = COALESCE(c.refit_of, c.model_version)
WHERE c.model_name = :model_name AND c.is_champion = 1;
