-- Columns added to the bookkeeping tables after their first release. `warehouse.create_schema`
-- runs each statement only when its column is missing, so a warehouse made by an older version
-- gains them in place.
ALTER TABLE model_versions ADD COLUMN role TEXT NOT NULL DEFAULT 'candidate';
ALTER TABLE model_versions ADD COLUMN refit_of TEXT;
ALTER TABLE model_versions ADD COLUMN primary_ci_low DOUBLE PRECISION;
ALTER TABLE model_versions ADD COLUMN primary_ci_high DOUBLE PRECISION;
ALTER TABLE model_versions ADD COLUMN decision_reason TEXT;
ALTER TABLE published_tables ADD COLUMN summary TEXT;
ALTER TABLE published_tables ADD COLUMN rolled_back_at TIMESTAMP;
