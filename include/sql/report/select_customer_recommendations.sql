SELECT r.rank, r.product_id, p.category, p.brand, p.price, r.score, r.source
FROM recommendations r
LEFT JOIN products p ON p.product_id = r.product_id
WHERE r.customer_id = :customer_id
ORDER BY r.rank;
