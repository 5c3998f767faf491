-- orders of the interval whose order_id appears more than once in the whole table.
SELECT t.order_id AS record_id
FROM orders t
WHERE t.ordered_at >= :start AND t.ordered_at < :end
  AND t.order_id IS NOT NULL
  AND (SELECT COUNT(*) FROM orders d WHERE d.order_id = t.order_id) > 1;
