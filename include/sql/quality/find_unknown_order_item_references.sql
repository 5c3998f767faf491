-- Order lines under validation that point at a product the warehouse does not know.
SELECT oi.order_id AS record_id
FROM order_items oi
WHERE oi.loaded_at >= :loaded_from AND oi.loaded_at < :end
  AND oi.order_id IS NOT NULL AND oi.product_id IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM products p WHERE p.product_id = oi.product_id);
