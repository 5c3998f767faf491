-- Each source table's watermark: the end of the latest load range that passed validation.
SELECT table_name, MAX(loaded_until) AS validated_until
FROM validated_loads
WHERE passed = 1
GROUP BY table_name;
