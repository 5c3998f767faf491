-- Orders under validation whose account age is unknown: the customer has no creation time or
-- one after the order. Not quarantined: risk scores them with an explicit "unknown" indicator.
SELECT o.order_id AS record_id
FROM orders o
JOIN customers c ON c.customer_id = o.customer_id
WHERE o.loaded_at >= :loaded_from AND o.loaded_at < :end
  AND o.order_id IS NOT NULL
  AND (c.created_at IS NULL OR c.created_at > o.ordered_at);
