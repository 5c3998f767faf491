-- Customers of the interval with a missing required field.
SELECT customer_id AS record_id
FROM customers
WHERE created_at >= :start AND created_at < :end
  AND customer_id IS NOT NULL
  AND (country IS NULL OR channel IS NULL);
