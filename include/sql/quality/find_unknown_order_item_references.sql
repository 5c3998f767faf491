-- Lines of the interval's orders that point at a product the warehouse does not know.
SELECT oi.order_id AS record_id
FROM order_items oi
JOIN orders o ON o.order_id = oi.order_id
WHERE o.ordered_at >= :start AND o.ordered_at < :end
  AND oi.product_id IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM products p WHERE p.product_id = oi.product_id);
