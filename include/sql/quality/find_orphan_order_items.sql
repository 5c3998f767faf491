-- Order lines whose order does not exist (they belong to no interval), not yet quarantined.
SELECT oi.order_id AS record_id
FROM order_items oi
WHERE oi.order_id IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.order_id = oi.order_id)
  AND NOT EXISTS (SELECT 1 FROM data_quality_quarantine q
                  WHERE q.table_name = 'order_items' AND q.record_id = oi.order_id
                    AND q.data_interval_start_at <> :start);
