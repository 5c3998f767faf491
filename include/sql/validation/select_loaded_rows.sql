-- The rows of a source table loaded in [start, end), as validated by Great Expectations.
SELECT * FROM {table} WHERE loaded_at >= :start AND loaded_at < :end;
