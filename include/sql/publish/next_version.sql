SELECT COALESCE(MAX(version), 0) + 1 AS next_version
FROM published_tables
WHERE table_name = :table_name;
