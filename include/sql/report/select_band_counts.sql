SELECT band, COUNT(*) AS orders
FROM order_risk_scores
GROUP BY band
ORDER BY band;
