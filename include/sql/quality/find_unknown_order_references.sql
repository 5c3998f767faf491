-- Orders under validation placed by a customer the warehouse does not know.
SELECT o.order_id AS record_id
FROM orders o
WHERE o.loaded_at >= :loaded_from AND o.loaded_at < :end
  AND o.order_id IS NOT NULL AND o.customer_id IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM customers c WHERE c.customer_id = o.customer_id);
