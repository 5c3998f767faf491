-- One published version of similar products, read by product page. source: 'model', or
-- 'catalogue' for a product the model does not know (same category, brand, price band). Its
-- key (product_id, rank) is built after the rows are loaded (include/publish.py).
CREATE TABLE {table} (
    product_id          BIGINT NOT NULL,
    rank                INTEGER NOT NULL,
    similar_product_id  BIGINT NOT NULL,
    score               DOUBLE PRECISION NOT NULL,
    source              TEXT NOT NULL,
    model_version       TEXT NOT NULL,
    as_of               TIMESTAMP NOT NULL
);
