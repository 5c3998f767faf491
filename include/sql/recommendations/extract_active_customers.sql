-- Customers to score: anyone with an event in [start, end), and anyone who signed up then
-- (they have no history yet and get the popular products).
SELECT customer_id FROM customers WHERE created_at >= :start AND created_at < :end
UNION
SELECT customer_id FROM events WHERE event_at >= :start AND event_at < :end
ORDER BY customer_id;
