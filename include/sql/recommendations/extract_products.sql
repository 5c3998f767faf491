-- The catalogue as of the end of the window: what new products are matched on (category, brand, price band).
SELECT product_id, created_at, category, brand, price
FROM products
WHERE created_at < :end AND product_id IS NOT NULL AND loaded_at < :loaded_until
  AND NOT EXISTS (SELECT 1 FROM data_quality_quarantine q
                  WHERE q.table_name = 'products' AND q.record_id = products.product_id)
ORDER BY product_id;
