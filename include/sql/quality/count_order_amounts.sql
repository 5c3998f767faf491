-- Orders loaded in [start, end) per amount band, for drift in the amount distribution.
SELECT CASE
           WHEN amount < 10 THEN 'a:<10'
           WHEN amount < 20 THEN 'b:10-20'
           WHEN amount < 35 THEN 'c:20-35'
           WHEN amount < 60 THEN 'd:35-60'
           WHEN amount < 100 THEN 'e:60-100'
           WHEN amount < 175 THEN 'f:100-175'
           WHEN amount < 300 THEN 'g:175-300'
           WHEN amount < 600 THEN 'h:300-600'
           ELSE 'i:600+'
       END AS bucket,
       COUNT(*) AS row_count
FROM orders
WHERE loaded_at >= :start AND loaded_at < :end AND amount IS NOT NULL
GROUP BY 1;
