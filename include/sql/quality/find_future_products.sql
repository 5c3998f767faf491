-- products stamped later than the moment of the check: never valid, whatever the interval.
SELECT t.product_id AS record_id
FROM products t
WHERE t.created_at > :now AND t.product_id IS NOT NULL;
