-- Orders under validation whose order_id appears more than once in the whole table.
SELECT t.order_id AS record_id
FROM orders t
WHERE t.loaded_at >= :loaded_from AND t.loaded_at < :end
  AND t.order_id IS NOT NULL
  AND (SELECT COUNT(*) FROM orders d WHERE d.order_id = t.order_id) > 1;
