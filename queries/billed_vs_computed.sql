-- billed_vs_computed: what the log says was charged beside what llmcost computes, per day, model and source.
-- Inputs: priced_requests (requests with `cost` and `reported_cost`), sources (the format each file was read as).
-- Output: day (DATE, UTC; NULL when undated), model (as logged), model_key, provider, format, requests (with a
-- reported cost), billed_usd (sum of reported costs), computed_usd (our cost of the same requests; NULL when
-- none is priced), unpriced (requests among them with no price), tokens of each type, adjusted (requests
-- priced with a tier/multiplier adjustment), price_versions (distinct price versions used).
SELECT CAST(p.ts AS DATE)                       AS day,
       p.model,
       p.model_key,
       p.provider,
       s.format,
       count(*)                                 AS requests,
       fsum(p.reported_cost)                    AS billed_usd,
       fsum(p.cost)                             AS computed_usd,
       count(*) FILTER (WHERE NOT p.priced)     AS unpriced,
       count(*) FILTER (WHERE p.status <> 'ok') AS not_billed,
       sum(p.input_tokens)::BIGINT              AS input_tokens,
       sum(p.cache_read_tokens)::BIGINT         AS cache_read_tokens,
       sum(p.cache_write_5m_tokens + p.cache_write_1h_tokens)::BIGINT AS cache_write_tokens,
       sum(p.output_tokens)::BIGINT             AS output_tokens,
       sum(p.reasoning_tokens)::BIGINT          AS reasoning_tokens,
       count(*) FILTER (WHERE p.batch)          AS batch_requests,
       string_agg(DISTINCT p.price_version, ', ' ORDER BY p.price_version) AS price_versions
FROM priced_requests p
LEFT JOIN sources s USING (source_id)
WHERE p.reported_cost IS NOT NULL
GROUP BY ALL
ORDER BY day NULLS LAST, billed_usd DESC, model, format  -- ties in a stable order
