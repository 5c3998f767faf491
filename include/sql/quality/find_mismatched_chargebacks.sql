-- Chargebacks under validation for an unknown order, or reported before the order was placed.
SELECT cb.order_id AS record_id
FROM chargebacks cb
WHERE cb.loaded_at >= :loaded_from AND cb.loaded_at < :end
  AND cb.order_id IS NOT NULL
  AND (NOT EXISTS (SELECT 1 FROM orders o WHERE o.order_id = cb.order_id)
    OR EXISTS (SELECT 1 FROM orders o WHERE o.order_id = cb.order_id AND o.ordered_at > cb.reported_at));
