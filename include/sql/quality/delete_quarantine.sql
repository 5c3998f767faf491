-- Re-validating an interval replaces its quarantine.
DELETE FROM data_quality_quarantine
WHERE table_name = :table_name AND data_interval_start_at = :start;
