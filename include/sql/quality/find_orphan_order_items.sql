-- Order lines under validation whose order does not exist.
SELECT oi.order_id AS record_id
FROM order_items oi
WHERE oi.loaded_at >= :loaded_from AND oi.loaded_at < :end
  AND oi.order_id IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.order_id = oi.order_id);
