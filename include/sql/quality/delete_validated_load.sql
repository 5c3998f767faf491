-- Re-running a validation replaces its record.
DELETE FROM validated_loads WHERE table_name = :table_name AND run_id = :run_id;
