-- A customer with a model-made list and a long purchase history: a readable example.
SELECT r.customer_id
FROM recommendations r
JOIN events e ON e.customer_id = r.customer_id AND e.event_type = 'purchase'
WHERE r.source = 'model' AND r.rank = 1
GROUP BY r.customer_id
ORDER BY COUNT(*) DESC, r.customer_id
LIMIT 1;
