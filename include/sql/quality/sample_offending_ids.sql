-- A few record ids a row rule found, for the task log; the rule query is a find_*.sql file.
SELECT DISTINCT r.record_id
FROM ({rule_query}) r
ORDER BY r.record_id
LIMIT :limit;
