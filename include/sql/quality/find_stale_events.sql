-- One row when the newest event of the interval is older than the freshness limit.
SELECT MAX(event_at) AS newest_at
FROM events
WHERE event_at >= :start AND event_at < :end
HAVING MAX(event_at) < :fresh_after;
