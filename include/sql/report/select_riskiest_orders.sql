SELECT order_id, customer_id, ordered_at, amount, score, band, reasons
FROM order_risk_scores
ORDER BY score DESC, order_id
LIMIT :limit;
