-- One row when the newest order known at the interval end (loaded before it) is older than the
-- freshness limit: an empty or late load shows here.
SELECT MAX(ordered_at) AS newest_at
FROM orders
WHERE ordered_at < :end AND loaded_at < :end
HAVING MAX(ordered_at) < :fresh_after;
