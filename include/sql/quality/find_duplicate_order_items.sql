-- Order lines loaded in the rows under validation whose (order_id, line_no) appears more than
-- once in the whole table.
SELECT oi.order_id AS record_id
FROM order_items oi
WHERE oi.loaded_at >= :loaded_from AND oi.loaded_at < :end
  AND oi.order_id IS NOT NULL
  AND (SELECT COUNT(*) FROM order_items d
       WHERE d.order_id = oi.order_id AND d.line_no = oi.line_no) > 1;
