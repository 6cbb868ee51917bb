-- usage_buckets_in_period: the usage-export buckets a report covers.
-- Inputs: usage_buckets; parameters $since, $until (TIMESTAMP or NULL for open-ended).
-- Output: every bucket starting inside the window, with `status` 'ok' so that prices.py can price it.
SELECT export, kind, provider, period_start, period_end, model, project, api_key, "user", service_tier, batch,
       context_window, line_item, requests, input_tokens, cache_read_tokens, cache_write_5m_tokens,
       cache_write_1h_tokens, output_tokens, 0::BIGINT AS reasoning_tokens, audio_tokens, reported_cost,
       'ok' AS status
FROM usage_buckets
WHERE ($since IS NULL OR period_start >= $since)
  AND ($until IS NULL OR period_start < $until)
ORDER BY period_start, export, model NULLS LAST, project NULLS LAST, api_key NULLS LAST, line_item NULLS LAST
