INSERT INTO validated_loads (table_name, run_id, loaded_from, loaded_until, row_count, passed, checked_at)
VALUES (:table_name, :run_id, :loaded_from, :loaded_until, :row_count, :passed, :checked_at);
