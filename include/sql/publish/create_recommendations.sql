-- One published version of the recommendations: top-K products per active customer. Its key
-- (customer_id, rank) is built after the rows are loaded (include/publish.py).
CREATE TABLE {table} (
    customer_id     BIGINT NOT NULL,
    rank            INTEGER NOT NULL,
    product_id      BIGINT NOT NULL,
    score           DOUBLE PRECISION NOT NULL,
    source          TEXT NOT NULL,
    model_version   TEXT NOT NULL,
    as_of           TIMESTAMP NOT NULL
);
