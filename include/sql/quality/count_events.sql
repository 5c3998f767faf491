SELECT COUNT(*) AS row_count FROM events WHERE event_at >= :start AND event_at < :end;
