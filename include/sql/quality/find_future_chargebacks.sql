-- chargebacks stamped later than the moment of the check: never valid, whatever the interval.
SELECT t.order_id AS record_id
FROM chargebacks t
WHERE t.reported_at > :now AND t.order_id IS NOT NULL;
