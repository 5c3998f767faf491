-- Record the rows a rule found; the rule query is one of the find_*.sql files of this folder.
INSERT INTO data_quality_quarantine (
    table_name, record_id, rule, run_id, data_interval_start_at, data_interval_end_at, quarantined_at
)
SELECT DISTINCT :table_name, r.record_id, :rule, :run_id, :start, :end, :now
FROM ({rule_query}) r;
