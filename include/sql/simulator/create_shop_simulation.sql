-- One row per day the simulated shop has written: what it was built with, so that the next
-- day can be appended exactly as a longer build would have written it.
CREATE TABLE IF NOT EXISTS shop_simulation (
    day_index        INTEGER NOT NULL PRIMARY KEY,
    day_start_at     TIMESTAMP NOT NULL,
    preset           TEXT NOT NULL,
    preset_settings  TEXT NOT NULL,
    seed             BIGINT NOT NULL,
    start_at         TIMESTAMP NOT NULL,
    row_counts       TEXT NOT NULL
);
