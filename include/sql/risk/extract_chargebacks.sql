-- Chargebacks known before the end of the run: the fraud labels.
SELECT order_id, reported_at, reason
FROM chargebacks
WHERE reported_at < :end;
