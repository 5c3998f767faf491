-- Empty the six source tables and the record of the simulated shop, before building a new one.
DELETE FROM chargebacks;
DELETE FROM order_items;
DELETE FROM orders;
DELETE FROM events;
DELETE FROM products;
DELETE FROM customers;
DELETE FROM shop_simulation;
