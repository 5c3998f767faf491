-- The events rows of one data interval, as validated by Great Expectations.
SELECT *
FROM events
WHERE event_at >= :start AND event_at < :end;
