-- One row when the newest event known at the interval end (loaded before it) is older than the
-- freshness limit: an empty or late load shows here.
SELECT MAX(event_at) AS newest_at
FROM events
WHERE event_at < :end AND loaded_at < :end
HAVING MAX(event_at) < :fresh_after;
