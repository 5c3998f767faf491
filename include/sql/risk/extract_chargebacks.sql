-- Chargebacks known before the end of the run: the fraud labels, one per order (its first
-- report: a chargeback reported twice is one fraud).
SELECT order_id, MIN(reported_at) AS reported_at, MIN(reason) AS reason
FROM chargebacks
WHERE reported_at < :end AND loaded_at < :loaded_until
  AND order_id IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM data_quality_quarantine q
                  WHERE q.table_name = 'chargebacks' AND q.record_id = chargebacks.order_id)
GROUP BY order_id;
