-- One published version of the recommendations: top-K products per active customer.
CREATE TABLE {table} (
    customer_id     BIGINT NOT NULL,
    rank            INTEGER NOT NULL,
    product_id      BIGINT NOT NULL,
    score           DOUBLE PRECISION NOT NULL,
    source          TEXT NOT NULL,
    model_version   TEXT NOT NULL,
    as_of           TIMESTAMP NOT NULL,
    PRIMARY KEY (customer_id, rank)
);
