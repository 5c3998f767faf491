-- Events under validation whose event_id appears more than once in the whole table.
SELECT t.event_id AS record_id
FROM events t
WHERE t.loaded_at >= :loaded_from AND t.loaded_at < :end
  AND t.event_id IS NOT NULL
  AND (SELECT COUNT(*) FROM events d WHERE d.event_id = t.event_id) > 1;
