-- Orders placed in [start, end) with what was known of the customer and the basket;
-- orders quarantined, or with a quarantined line, are left out.
-- The basket is counted by joining the lines and grouping once, not by joining a per-order
-- aggregate: a planner without statistics would otherwise rescan that aggregate per order.
SELECT o.order_id,
       o.customer_id,
       o.ordered_at,
       o.amount,
       o.payment_method,
       o.billing_country,
       o.shipping_country,
       o.ip_country,
       o.device_id,
       c.created_at AS customer_created_at,
       c.country AS customer_country,
       COALESCE(SUM(oi.quantity), 0) AS n_items,
       COUNT(oi.order_id) AS n_lines
FROM orders o
LEFT JOIN customers c ON c.customer_id = o.customer_id AND c.loaded_at < :loaded_until
LEFT JOIN order_items oi ON oi.order_id = o.order_id AND oi.loaded_at < :loaded_until
WHERE o.ordered_at >= :start AND o.ordered_at < :end AND o.loaded_at < :loaded_until
  AND NOT EXISTS (SELECT 1 FROM data_quality_quarantine q
                  WHERE q.table_name IN ('orders', 'order_items') AND q.record_id = o.order_id)
GROUP BY o.order_id, o.customer_id, o.ordered_at, o.amount, o.payment_method, o.billing_country,
         o.shipping_country, o.ip_country, o.device_id, c.created_at, c.country
ORDER BY o.ordered_at, o.order_id;
