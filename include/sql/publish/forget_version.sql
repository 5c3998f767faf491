DELETE FROM published_tables
WHERE table_name = :table_name AND version = :version;
