SELECT MAX(event_at) AS latest_at FROM events;
