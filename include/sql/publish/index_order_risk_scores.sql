-- The review queue reads one band, newest first.
CREATE INDEX ix_{table}_band_ordered_at ON {table} (band, ordered_at);
