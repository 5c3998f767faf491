-- The customers rows of one data interval, as validated by Great Expectations.
SELECT *
FROM customers
WHERE created_at >= :start AND created_at < :end;
