-- Events of the interval with a missing field or an event type the shop does not emit.
SELECT event_id AS record_id
FROM events
WHERE event_at >= :start AND event_at < :end
  AND event_id IS NOT NULL
  AND (session_id IS NULL OR customer_id IS NULL OR product_id IS NULL
       OR event_type IS NULL OR event_type NOT IN ('view', 'add_to_cart', 'purchase'));
