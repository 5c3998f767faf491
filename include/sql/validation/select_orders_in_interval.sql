-- The orders rows of one data interval, as validated by Great Expectations.
SELECT *
FROM orders
WHERE ordered_at >= :start AND ordered_at < :end;
