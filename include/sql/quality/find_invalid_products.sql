-- Products of the interval with a missing category or a price that is not positive and sane.
SELECT product_id AS record_id
FROM products
WHERE created_at >= :start AND created_at < :end
  AND product_id IS NOT NULL
  AND (category IS NULL OR price IS NULL OR price <= 0 OR price > :max_price);
