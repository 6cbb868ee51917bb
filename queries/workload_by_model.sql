-- workload_by_model: the measured workload of each model, for the report's projection.
-- Inputs: requests (dated API calls only: undated ones cannot be put on a daily rate; no block-hash traces).
-- Parameters $since, $until.
-- Output: model, provider (one of the model's, to resolve names only priced under a provider prefix), requests, mean input and output tokens per request, share of requests that read from cache,
-- mean cache-read tokens on those.
SELECT model,
       max(provider)                                                   AS provider,
       count(*)                                                        AS requests,
       avg(input_tokens)                                               AS input_tokens,
       avg(output_tokens)                                              AS output_tokens,
       avg(CASE WHEN cache_read_tokens > 0 THEN 1.0 ELSE 0.0 END)      AS cache_hit_rate,
       coalesce(avg(cache_read_tokens) FILTER (WHERE cache_read_tokens > 0), 0) AS cached_prefix
FROM requests
WHERE trace_ms IS NULL AND status = 'ok' AND ts IS NOT NULL
  AND ($since IS NULL OR ts >= $since) AND ($until IS NULL OR ts < $until)
GROUP BY model
ORDER BY requests DESC, model
