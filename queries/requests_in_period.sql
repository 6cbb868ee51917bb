-- requests_in_period: the requests a report covers.
-- Inputs: requests; parameters $since, $until (TIMESTAMP or NULL for open-ended).
-- Output: every requests column needed for pricing and attribution. Undated requests are included only
-- when no bound is given. Block-hash trace requests (trace_ms set: no model, no price, no calendar time) are
-- not API calls with a bill: they feed only the prefix analysis.
SELECT request_id, source_id, ts, provider, model, api_key, project, "user", feature, tags, conversation_id,
       endpoint, input_tokens, cache_read_tokens, cache_write_5m_tokens, cache_write_1h_tokens, output_tokens,
       reasoning_tokens, batch, service_tier, reported_cost, latency_ms, status, n_messages, has_tools, encoding,
       inference_geo, speed, coalesce(usage_estimated, false) AS usage_estimated, units, unit
FROM requests
WHERE trace_ms IS NULL
  AND ($since IS NULL OR ts >= $since)
  AND ($until IS NULL OR ts < $until)
ORDER BY ts NULLS LAST, request_id
