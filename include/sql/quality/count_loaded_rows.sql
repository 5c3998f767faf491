-- Rows of a source table loaded in [start, end).
SELECT COUNT(*) AS row_count FROM {table} WHERE loaded_at >= :start AND loaded_at < :end;
