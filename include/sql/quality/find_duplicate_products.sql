-- Products under validation whose product_id appears more than once in the whole table.
SELECT t.product_id AS record_id
FROM products t
WHERE t.loaded_at >= :loaded_from AND t.loaded_at < :end
  AND t.product_id IS NOT NULL
  AND (SELECT COUNT(*) FROM products d WHERE d.product_id = t.product_id) > 1;
