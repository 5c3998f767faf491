-- Record a day written by the simulated shop (in the same transaction as its rows).
INSERT INTO shop_simulation (day_index, day_start_at, preset, preset_settings, seed, start_at, row_counts)
VALUES (:day_index, :day_start_at, :preset, :preset_settings, :seed, :start_at, :row_counts);
