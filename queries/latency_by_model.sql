-- latency_by_model: latency per model where the logs carry it (Bedrock, OpenTelemetry spans, ...).
-- Inputs: priced_requests; parameter $limit (rows at most).
-- Output: model, requests (calls with a latency), median_ms, p95_ms; the models with most such calls first.
SELECT model,
       count(latency_ms)                  AS requests,
       median(latency_ms)                 AS median_ms,
       quantile_cont(latency_ms, 0.95)    AS p95_ms
FROM priced_requests
WHERE latency_ms IS NOT NULL
GROUP BY model
ORDER BY count(latency_ms) DESC, model
LIMIT $limit
