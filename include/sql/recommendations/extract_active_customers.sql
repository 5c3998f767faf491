-- Customers to score: anyone with an event in [start, end), and anyone who signed up then
-- (they have no history yet and get the popular products).
SELECT customer_id FROM customers
WHERE created_at >= :start AND created_at < :end AND customer_id IS NOT NULL
  AND loaded_at < :loaded_until
  AND NOT EXISTS (SELECT 1 FROM data_quality_quarantine q
                  WHERE q.table_name = 'customers' AND q.record_id = customers.customer_id)
UNION
SELECT customer_id FROM events
WHERE event_at >= :start AND event_at < :end AND loaded_at < :loaded_until
  AND NOT EXISTS (SELECT 1 FROM data_quality_quarantine q
                  WHERE q.table_name = 'events' AND q.record_id = events.event_id)
ORDER BY customer_id;
