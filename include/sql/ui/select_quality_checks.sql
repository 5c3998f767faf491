-- Every check of one validation run, table by table; severity is "passed" or what the failure meant.
SELECT table_name, expectation, column_name, severity, success, observed_value, unexpected_count
FROM data_quality_runs
WHERE run_id = :run_id
ORDER BY table_name, success, expectation, column_name;
