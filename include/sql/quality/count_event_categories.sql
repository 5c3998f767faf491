-- The product-category mix of the events loaded in [start, end), for drift.
SELECT COALESCE(p.category, '(unknown)') AS bucket, COUNT(*) AS row_count
FROM events e
LEFT JOIN (SELECT product_id, MIN(category) AS category FROM products GROUP BY product_id) p
  ON p.product_id = e.product_id
WHERE e.loaded_at >= :start AND e.loaded_at < :end
GROUP BY COALESCE(p.category, '(unknown)');
