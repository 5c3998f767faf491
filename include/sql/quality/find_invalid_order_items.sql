-- Lines of the interval's orders with a missing product, a quantity below 1 or a unit price
-- that is not positive and sane.
SELECT oi.order_id AS record_id
FROM order_items oi
JOIN orders o ON o.order_id = oi.order_id
WHERE o.ordered_at >= :start AND o.ordered_at < :end
  AND (oi.product_id IS NULL OR oi.quantity IS NULL OR oi.quantity < 1
       OR oi.unit_price IS NULL OR oi.unit_price <= 0 OR oi.unit_price > :max_price);
