-- Order lines of the interval's orders whose (order_id, line_no) appears more than once.
SELECT oi.order_id AS record_id
FROM order_items oi
JOIN orders o ON o.order_id = oi.order_id
WHERE o.ordered_at >= :start AND o.ordered_at < :end
  AND (SELECT COUNT(*) FROM order_items d
       WHERE d.order_id = oi.order_id AND d.line_no = oi.line_no) > 1;
