-- Customers under validation whose customer_id appears more than once in the whole table.
SELECT t.customer_id AS record_id
FROM customers t
WHERE t.loaded_at >= :loaded_from AND t.loaded_at < :end
  AND t.customer_id IS NOT NULL
  AND (SELECT COUNT(*) FROM customers d WHERE d.customer_id = t.customer_id) > 1;
