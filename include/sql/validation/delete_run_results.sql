-- Re-validating a run replaces its results instead of adding to them.
DELETE FROM data_quality_runs WHERE run_id = :run_id AND table_name = :table_name;
