-- Customers without a creation time, whatever the interval (a warning: their orders are still
-- scored, with the account age unknown).
SELECT t.customer_id AS record_id
FROM customers t
WHERE t.created_at IS NULL AND t.customer_id IS NOT NULL;
