SELECT COUNT(*) AS row_count FROM products WHERE created_at >= :start AND created_at < :end;
