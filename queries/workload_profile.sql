-- workload_profile: the measured inputs of `llmcost project --from-db`.
-- Inputs: requests (API calls only, not block-hash traces). Parameters $since, $until.
-- Output: one row: requests, days spanned, mean input and output tokens per request, share of requests that
-- read from cache, mean cache-read tokens on those, and the most used model.
SELECT count(*)                                                        AS requests,
       greatest(epoch(max(ts)) - epoch(min(ts)), 3600) / 86400.0       AS days,
       avg(input_tokens)                                               AS input_tokens,
       avg(output_tokens)                                              AS output_tokens,
       avg(CASE WHEN cache_read_tokens > 0 THEN 1.0 ELSE 0.0 END)      AS cache_hit_rate,
       coalesce(avg(cache_read_tokens) FILTER (WHERE cache_read_tokens > 0), 0) AS cached_prefix,
       mode(model)                                                     AS model
FROM requests
WHERE trace_ms IS NULL AND status = 'ok'
  AND ($since IS NULL OR ts >= $since) AND ($until IS NULL OR ts < $until)
