-- chargebacks of the interval whose order_id appears more than once in the whole table.
SELECT t.order_id AS record_id
FROM chargebacks t
WHERE t.reported_at >= :start AND t.reported_at < :end
  AND t.order_id IS NOT NULL
  AND (SELECT COUNT(*) FROM chargebacks d WHERE d.order_id = t.order_id) > 1;
