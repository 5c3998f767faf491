-- Events under validation that point at a customer or a product the warehouse does not know.
SELECT e.event_id AS record_id
FROM events e
WHERE e.loaded_at >= :loaded_from AND e.loaded_at < :end
  AND e.event_id IS NOT NULL
  AND ((e.customer_id IS NOT NULL
        AND NOT EXISTS (SELECT 1 FROM customers c WHERE c.customer_id = e.customer_id))
    OR (e.product_id IS NOT NULL
        AND NOT EXISTS (SELECT 1 FROM products p WHERE p.product_id = e.product_id)));
