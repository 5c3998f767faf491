-- One published version of order risk scores, read by order and by the review queue
-- (band, newest first): its key (order_id) and that index (index_order_risk_scores.sql) are
-- built after the rows are loaded (include/publish.py).
CREATE TABLE {table} (
    order_id        BIGINT NOT NULL,
    customer_id     BIGINT NOT NULL,
    ordered_at      TIMESTAMP NOT NULL,
    amount          DOUBLE PRECISION,
    score           DOUBLE PRECISION NOT NULL,
    band            TEXT NOT NULL,
    reasons         TEXT NOT NULL,
    model_version   TEXT NOT NULL,
    as_of           TIMESTAMP NOT NULL
);
