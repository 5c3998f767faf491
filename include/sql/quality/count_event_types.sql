-- The event-type mix of [start, end), for drift.
SELECT event_type AS bucket, COUNT(*) AS row_count
FROM events
WHERE event_at >= :start AND event_at < :end
GROUP BY event_type;
