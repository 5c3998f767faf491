-- Events of the interval that point at a customer or a product the warehouse does not know.
SELECT e.event_id AS record_id
FROM events e
WHERE e.event_at >= :start AND e.event_at < :end
  AND e.event_id IS NOT NULL
  AND ((e.customer_id IS NOT NULL
        AND NOT EXISTS (SELECT 1 FROM customers c WHERE c.customer_id = e.customer_id))
    OR (e.product_id IS NOT NULL
        AND NOT EXISTS (SELECT 1 FROM products p WHERE p.product_id = e.product_id)));
