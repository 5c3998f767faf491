-- Readers query the view; pointing it at another version is one transaction.
DROP VIEW IF EXISTS {view};
CREATE VIEW {view} AS SELECT * FROM {table};
