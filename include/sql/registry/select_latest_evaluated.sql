-- The latest evaluated version of one candidate that stopped learning before a holdout: what
-- tonight's candidate of the same kind may start from without having seen tonight's holdout.
SELECT model_version, artifact_uri
FROM model_versions
WHERE model_name = :model_name
  AND candidate = :candidate
  AND role = 'candidate'
  AND holdout_start_at <= :holdout_start
ORDER BY holdout_start_at DESC, trained_at DESC
LIMIT 1;
