-- Rows in the six source tables together: a simulated shop is only built into an empty one.
SELECT
    (SELECT COUNT(*) FROM customers)
  + (SELECT COUNT(*) FROM products)
  + (SELECT COUNT(*) FROM events)
  + (SELECT COUNT(*) FROM orders)
  + (SELECT COUNT(*) FROM order_items)
  + (SELECT COUNT(*) FROM chargebacks) AS source_rows;
