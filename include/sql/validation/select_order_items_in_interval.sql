-- The order lines of the orders placed in one data interval.
SELECT oi.*
FROM order_items oi
JOIN orders o ON o.order_id = oi.order_id
WHERE o.ordered_at >= :start AND o.ordered_at < :end;
