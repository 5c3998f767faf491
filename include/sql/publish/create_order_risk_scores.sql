-- One published version of order risk scores, read by order and by the review queue
-- (band, newest first).
CREATE TABLE {table} (
    order_id        BIGINT NOT NULL PRIMARY KEY,
    customer_id     BIGINT NOT NULL,
    ordered_at      TIMESTAMP NOT NULL,
    amount          DOUBLE PRECISION,
    score           DOUBLE PRECISION NOT NULL,
    band            TEXT NOT NULL,
    reasons         TEXT NOT NULL,
    model_version   TEXT NOT NULL,
    as_of           TIMESTAMP NOT NULL
);
CREATE INDEX ix_{table}_band_ordered_at ON {table} (band, ordered_at);
