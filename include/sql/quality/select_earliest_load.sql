-- When a source table's first row landed.
SELECT MIN(loaded_at) AS loaded_at FROM {table};
