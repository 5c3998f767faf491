-- Source tables, written by the shop (the simulator stands in for it).
-- They are landing tables: ids are indexed but not enforced as keys, because enforcing them
-- here would reject a bad load outright; the validation DAG checks keys and quarantines.
-- Timestamps are naive UTC.
--
-- loaded_at is when the row's current content landed: the loader sets it (or leaves it to the
-- default, the time of the insert), and a correction sets it again. The gate validates each row
-- in the interval its loaded_at falls in, so a row dated in the past but loaded today is checked
-- tonight, and the extracts read only rows loaded before the gate's watermark
-- (ARCHITECTURE.md, "What the gate covers"). Its index is made by warehouse.add_load_times,
-- which also gives the tables of an older warehouse the column.

CREATE TABLE IF NOT EXISTS customers (
    customer_id     BIGINT,
    created_at      TIMESTAMP,
    country         TEXT,
    channel         TEXT,
    loaded_at       TIMESTAMP DEFAULT {utc_now}
);
CREATE INDEX IF NOT EXISTS ix_customers_customer_id ON customers (customer_id);
CREATE INDEX IF NOT EXISTS ix_customers_created_at ON customers (created_at);

CREATE TABLE IF NOT EXISTS products (
    product_id      BIGINT,
    created_at      TIMESTAMP,
    category        TEXT,
    brand           TEXT,
    price           DOUBLE PRECISION,
    loaded_at       TIMESTAMP DEFAULT {utc_now}
);
CREATE INDEX IF NOT EXISTS ix_products_product_id ON products (product_id);
CREATE INDEX IF NOT EXISTS ix_products_created_at ON products (created_at);

CREATE TABLE IF NOT EXISTS events (
    event_id        BIGINT,
    session_id      BIGINT,
    customer_id     BIGINT,
    product_id      BIGINT,
    event_type      TEXT,
    event_at        TIMESTAMP,
    loaded_at       TIMESTAMP DEFAULT {utc_now}
);
CREATE INDEX IF NOT EXISTS ix_events_event_id ON events (event_id);
CREATE INDEX IF NOT EXISTS ix_events_event_at ON events (event_at);
CREATE INDEX IF NOT EXISTS ix_events_customer_id_event_at ON events (customer_id, event_at);

CREATE TABLE IF NOT EXISTS orders (
    order_id          BIGINT,
    customer_id       BIGINT,
    ordered_at        TIMESTAMP,
    amount            DOUBLE PRECISION,
    payment_method    TEXT,
    billing_country   TEXT,
    shipping_country  TEXT,
    ip_country        TEXT,
    device_id         TEXT,
    loaded_at       TIMESTAMP DEFAULT {utc_now}
);
CREATE INDEX IF NOT EXISTS ix_orders_order_id ON orders (order_id);
CREATE INDEX IF NOT EXISTS ix_orders_ordered_at ON orders (ordered_at);
CREATE INDEX IF NOT EXISTS ix_orders_customer_id_ordered_at ON orders (customer_id, ordered_at);

CREATE TABLE IF NOT EXISTS order_items (
    order_id        BIGINT,
    line_no         INTEGER,
    product_id      BIGINT,
    quantity        INTEGER,
    unit_price      DOUBLE PRECISION,
    loaded_at       TIMESTAMP DEFAULT {utc_now}
);
CREATE INDEX IF NOT EXISTS ix_order_items_order_id ON order_items (order_id, line_no);

CREATE TABLE IF NOT EXISTS chargebacks (
    order_id        BIGINT,
    reported_at     TIMESTAMP,
    amount          DOUBLE PRECISION,
    reason          TEXT,
    loaded_at       TIMESTAMP DEFAULT {utc_now}
);
CREATE INDEX IF NOT EXISTS ix_chargebacks_order_id ON chargebacks (order_id);
CREATE INDEX IF NOT EXISTS ix_chargebacks_reported_at ON chargebacks (reported_at);
