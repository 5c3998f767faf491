UPDATE published_tables
SET rolled_back_at = :rolled_back_at
WHERE table_name = :table_name AND version = :version;
