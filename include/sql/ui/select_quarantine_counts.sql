-- Rows one validation run set aside, per table and rule.
SELECT table_name, rule, COUNT(*) AS records
FROM data_quality_quarantine
WHERE run_id = :run_id
GROUP BY table_name, rule
ORDER BY table_name, rule;
