SELECT table_name, version, physical_table, run_id, model_version,
       data_interval_start_at, data_interval_end_at, row_count, published_at, is_current, summary,
       rolled_back_at
FROM published_tables
WHERE table_name = :table_name
ORDER BY version DESC;
