-- customers stamped later than the moment of the check: never valid, whatever the interval.
SELECT t.customer_id AS record_id
FROM customers t
WHERE t.created_at > :now AND t.customer_id IS NOT NULL;
