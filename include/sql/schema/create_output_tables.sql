-- Bookkeeping tables of the pipeline. The published tables themselves (recommendations,
-- similar_products, order_risk_scores) are views over versioned tables: see publish/.

CREATE TABLE IF NOT EXISTS published_tables (
    table_name           TEXT NOT NULL,
    version              INTEGER NOT NULL,
    physical_table       TEXT NOT NULL,
    run_id               TEXT NOT NULL,
    model_version        TEXT,
    data_interval_start_at TIMESTAMP,
    data_interval_end_at   TIMESTAMP,
    row_count            BIGINT NOT NULL,
    published_at         TIMESTAMP NOT NULL,
    is_current           INTEGER NOT NULL DEFAULT 0,
    summary              TEXT,  -- JSON: what the version holds, e.g. the share of each risk band
    rolled_back_at       TIMESTAMP,  -- readers were moved off it: never a rollback target again
    PRIMARY KEY (table_name, version)
);

-- One row per trained model: every candidate of every run (role 'candidate', trained on the
-- data before holdout_start_at and judged on the holdout), and every refit that serves (role
-- 'refit', trained on the whole window up to data_interval_end_at, linked by refit_of to the
-- candidate whose parameters it took and whose figures it stands on).
CREATE TABLE IF NOT EXISTS model_versions (
    model_version        TEXT PRIMARY KEY,
    model_name           TEXT NOT NULL,
    candidate            TEXT NOT NULL,
    role                 TEXT NOT NULL DEFAULT 'candidate',
    refit_of             TEXT,
    run_id               TEXT NOT NULL,
    data_interval_start_at TIMESTAMP,
    data_interval_end_at   TIMESTAMP,
    -- where the model's training data ends: the holdout start for a candidate, as_of for a refit
    holdout_start_at     TIMESTAMP NOT NULL,
    trained_at           TIMESTAMP NOT NULL,
    train_rows           BIGINT NOT NULL,
    holdout_rows         BIGINT NOT NULL,
    params               TEXT NOT NULL,
    metrics              TEXT NOT NULL,
    comparison           TEXT NOT NULL,
    primary_metric       DOUBLE PRECISION,
    primary_ci_low       DOUBLE PRECISION,
    primary_ci_high      DOUBLE PRECISION,
    decision             TEXT NOT NULL,
    decision_reason      TEXT,
    is_champion          INTEGER NOT NULL DEFAULT 0,
    artifact_uri         TEXT,
    code_version         TEXT
);
CREATE INDEX IF NOT EXISTS ix_model_versions_name_champion ON model_versions (model_name, is_champion);
CREATE INDEX IF NOT EXISTS ix_model_versions_run_id ON model_versions (run_id);

CREATE TABLE IF NOT EXISTS data_quality_runs (
    run_id               TEXT NOT NULL,
    table_name           TEXT NOT NULL,
    expectation          TEXT NOT NULL,
    column_name          TEXT NOT NULL DEFAULT '',
    severity             TEXT NOT NULL,
    success              INTEGER NOT NULL,
    observed_value       TEXT,
    unexpected_count     BIGINT,
    data_interval_start_at TIMESTAMP,
    data_interval_end_at   TIMESTAMP,
    checked_at           TIMESTAMP NOT NULL,
    PRIMARY KEY (run_id, table_name, expectation, column_name)
);
CREATE INDEX IF NOT EXISTS ix_data_quality_runs_checked_at ON data_quality_runs (checked_at);

-- Rows that broke a row-level rule while below the tolerance: extracts leave them out.
CREATE TABLE IF NOT EXISTS data_quality_quarantine (
    table_name             TEXT NOT NULL,
    record_id              BIGINT NOT NULL,
    rule                   TEXT NOT NULL,
    run_id                 TEXT NOT NULL,
    data_interval_start_at TIMESTAMP NOT NULL,
    data_interval_end_at   TIMESTAMP NOT NULL,
    quarantined_at         TIMESTAMP NOT NULL,
    PRIMARY KEY (table_name, record_id, rule, data_interval_start_at)
);
CREATE INDEX IF NOT EXISTS ix_data_quality_quarantine_record ON data_quality_quarantine (table_name, record_id);

-- What the gate has validated: per source table and validation run, the rows loaded in
-- [loaded_from, loaded_until) and whether they passed. A table's watermark is the latest
-- loaded_until that passed; the extracts read only rows loaded before it.
CREATE TABLE IF NOT EXISTS validated_loads (
    table_name     TEXT NOT NULL,
    run_id         TEXT NOT NULL,
    loaded_from    TIMESTAMP NOT NULL,
    loaded_until   TIMESTAMP NOT NULL,
    row_count      BIGINT NOT NULL,
    passed         INTEGER NOT NULL,
    checked_at     TIMESTAMP NOT NULL,
    PRIMARY KEY (table_name, run_id)
);
