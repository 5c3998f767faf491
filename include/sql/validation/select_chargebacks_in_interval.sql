-- The chargebacks rows of one data interval, as validated by Great Expectations.
SELECT *
FROM chargebacks
WHERE reported_at >= :start AND reported_at < :end;
