-- What each customer bought in [start, end): the relevant items of the holdout.
SELECT DISTINCT customer_id, product_id
FROM events
WHERE event_type = 'purchase' AND event_at >= :start AND event_at < :end
  AND loaded_at < :loaded_until
  AND NOT EXISTS (SELECT 1 FROM data_quality_quarantine q
                  WHERE q.table_name = 'events' AND q.record_id = events.event_id);
