SELECT COUNT(*) AS row_count FROM orders WHERE ordered_at >= :start AND ordered_at < :end;
