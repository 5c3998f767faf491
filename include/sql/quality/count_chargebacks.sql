SELECT COUNT(*) AS row_count FROM chargebacks WHERE reported_at >= :start AND reported_at < :end;
