-- The products rows of one data interval, as validated by Great Expectations.
SELECT *
FROM products
WHERE created_at >= :start AND created_at < :end;
