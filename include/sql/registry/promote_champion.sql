-- Exactly one champion per model name: the switch is one transaction.
UPDATE model_versions
SET is_champion = CASE WHEN model_version = :model_version THEN 1 ELSE 0 END
WHERE model_name = :model_name AND (is_champion = 1 OR model_version = :model_version)
  AND EXISTS (SELECT 1 FROM model_versions m
              WHERE m.model_name = :model_name AND m.model_version = :model_version);
