SELECT COUNT(*) AS row_count FROM customers WHERE created_at >= :start AND created_at < :end;
