-- events stamped later than the moment of the check: never valid, whatever the interval.
SELECT t.event_id AS record_id
FROM events t
WHERE t.event_at > :now AND t.event_id IS NOT NULL;
