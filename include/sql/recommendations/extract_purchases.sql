-- What each customer bought in [start, end): the relevant items of the holdout.
SELECT DISTINCT customer_id, product_id
FROM events
WHERE event_type = 'purchase' AND event_at >= :start AND event_at < :end;
