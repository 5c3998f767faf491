-- Chargebacks known before the end of the run: the fraud labels.
SELECT order_id, reported_at, reason
FROM chargebacks
WHERE reported_at < :end
  AND NOT EXISTS (SELECT 1 FROM data_quality_quarantine q
                  WHERE q.table_name = 'chargebacks' AND q.record_id = chargebacks.order_id);
