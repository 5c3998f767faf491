-- One row per (customer, product) seen in [start, end): the weighted strength of interest
-- (view 1, add to cart 3, purchase 5), the number of purchases and the last interaction.
-- Only events the gate passed are read: loaded before the watermark and not quarantined.
SELECT customer_id,
       product_id,
       SUM(CASE event_type
               WHEN 'view' THEN 1.0
               WHEN 'add_to_cart' THEN 3.0
               WHEN 'purchase' THEN 5.0
               ELSE 0.0
           END) AS weight,
       SUM(CASE WHEN event_type = 'purchase' THEN 1 ELSE 0 END) AS purchases,
       MAX(event_at) AS last_at
FROM events
WHERE event_at >= :start AND event_at < :end AND loaded_at < :loaded_until
  AND NOT EXISTS (SELECT 1 FROM data_quality_quarantine q
                  WHERE q.table_name = 'events' AND q.record_id = events.event_id)
GROUP BY customer_id, product_id;
