-- The last day written by the simulated shop.
SELECT day_index, day_start_at, preset, preset_settings, seed, start_at, row_counts
FROM shop_simulation
ORDER BY day_index DESC
LIMIT 1;
