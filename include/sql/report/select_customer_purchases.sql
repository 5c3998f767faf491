SELECT p.category, COUNT(*) AS purchases
FROM events e
JOIN products p ON p.product_id = e.product_id
WHERE e.customer_id = :customer_id AND e.event_type = 'purchase'
GROUP BY p.category
ORDER BY purchases DESC, p.category;
