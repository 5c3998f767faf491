-- Orders placed in [start, end) with what was known of the customer and the basket;
-- orders quarantined, or with a quarantined line, are left out.
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
       COALESCE(i.n_items, 0) AS n_items,
       COALESCE(i.n_lines, 0) AS n_lines
FROM orders o
LEFT JOIN customers c ON c.customer_id = o.customer_id
LEFT JOIN (
    SELECT oi.order_id, SUM(oi.quantity) AS n_items, COUNT(*) AS n_lines
    FROM order_items oi
    JOIN orders io ON io.order_id = oi.order_id
    WHERE io.ordered_at >= :start AND io.ordered_at < :end
    GROUP BY oi.order_id
) i ON i.order_id = o.order_id
WHERE o.ordered_at >= :start AND o.ordered_at < :end
  AND NOT EXISTS (SELECT 1 FROM data_quality_quarantine q
                  WHERE q.table_name IN ('orders', 'order_items') AND q.record_id = o.order_id)
ORDER BY o.ordered_at, o.order_id;
