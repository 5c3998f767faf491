-- Earlier nights' verdicts on records whose every row has been loaded again since the watermark
-- (a correction): tonight's rules judge those rows afresh and quarantine them again if they
-- still break one. A record with a row loaded before stays quarantined.
DELETE FROM data_quality_quarantine
WHERE table_name = :table_name
  AND data_interval_start_at <> :start
  AND EXISTS (SELECT 1 FROM {table} n
              WHERE n.{key} = data_quality_quarantine.record_id
                AND n.loaded_at >= :loaded_from AND n.loaded_at < :end)
  AND NOT EXISTS (SELECT 1 FROM {table} o
                  WHERE o.{key} = data_quality_quarantine.record_id
                    AND (o.loaded_at < :loaded_from OR o.loaded_at IS NULL));
