UPDATE published_tables
SET is_current = CASE WHEN version = :version THEN 1 ELSE 0 END
WHERE table_name = :table_name;
