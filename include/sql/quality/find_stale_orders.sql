-- One row when the newest order of the interval is older than the freshness limit.
SELECT MAX(ordered_at) AS newest_at
FROM orders
WHERE ordered_at >= :start AND ordered_at < :end
HAVING MAX(ordered_at) < :fresh_after;
