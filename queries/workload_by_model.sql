-- workload_by_model: the measured workload of each model, for the report's projection.
-- Inputs: requests (API calls only, not block-hash traces). Parameters $since, $until.
-- Output: model, requests, days (the whole period's span, at least an hour), mean input and output tokens per
-- request, share of requests that read from cache, mean cache-read tokens on those.
WITH r AS (
    SELECT * FROM requests
    WHERE trace_ms IS NULL AND status = 'ok'
      AND ($since IS NULL OR ts >= $since) AND ($until IS NULL OR ts < $until)
), span AS (
    SELECT greatest(epoch(max(ts)) - epoch(min(ts)), 3600) / 86400.0 AS days FROM r
)
SELECT model,
       count(*)                                                        AS requests,
       any_value(span.days)                                            AS days,
       avg(input_tokens)                                               AS input_tokens,
       avg(output_tokens)                                              AS output_tokens,
       avg(CASE WHEN cache_read_tokens > 0 THEN 1.0 ELSE 0.0 END)      AS cache_hit_rate,
       coalesce(avg(cache_read_tokens) FILTER (WHERE cache_read_tokens > 0), 0) AS cached_prefix
FROM r, span
GROUP BY model
ORDER BY requests DESC, model
