SELECT table_name, version, row_count, model_version, published_at
FROM published_tables
WHERE is_current = 1
ORDER BY table_name;
