-- The event-type mix of the events loaded in [start, end), for drift.
SELECT event_type AS bucket, COUNT(*) AS row_count
FROM events
WHERE loaded_at >= :start AND loaded_at < :end
GROUP BY event_type;
