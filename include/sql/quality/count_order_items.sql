SELECT COUNT(*) AS row_count
FROM order_items oi JOIN orders o ON o.order_id = oi.order_id
WHERE o.ordered_at >= :start AND o.ordered_at < :end;
