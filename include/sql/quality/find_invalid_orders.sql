-- Orders of the interval with a missing field, an unknown payment method or an amount that
-- is not positive and sane.
SELECT order_id AS record_id
FROM orders
WHERE ordered_at >= :start AND ordered_at < :end
  AND order_id IS NOT NULL
  AND (customer_id IS NULL OR amount IS NULL OR amount <= 0 OR amount > :max_amount
       OR payment_method IS NULL
       OR payment_method NOT IN ('card', 'paypal', 'bank_transfer', 'gift_card', 'crypto'));
