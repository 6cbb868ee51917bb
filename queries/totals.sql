-- totals: one row of headline figures.
-- Inputs: priced_requests (requests_in_period plus model_key, priced and the cost_* columns, USD).
-- Output: requests, priced/unpriced counts, token sums by type, cost by token type, reported cost, period.
SELECT count(*)                                             AS requests,
       count(*) FILTER (WHERE priced)                       AS priced_requests,
       count(*) FILTER (WHERE NOT priced)                   AS unpriced_requests,
       count(*) FILTER (WHERE status = 'error')             AS error_requests,
       count(*) FILTER (WHERE ts IS NULL)                   AS undated_requests,
       coalesce(sum(input_tokens)::BIGINT, 0)                       AS input_tokens,
       coalesce(sum(cache_read_tokens)::BIGINT, 0)                  AS cache_read_tokens,
       coalesce(sum(cache_write_5m_tokens)::BIGINT, 0)              AS cache_write_5m_tokens,
       coalesce(sum(cache_write_1h_tokens)::BIGINT, 0)              AS cache_write_1h_tokens,
       coalesce(sum(output_tokens)::BIGINT, 0)                      AS output_tokens,
       coalesce(sum(reasoning_tokens)::BIGINT, 0)                   AS reasoning_tokens,
       coalesce(sum(cost), 0)                               AS cost_usd,
       coalesce(sum(cost_input), 0)                         AS cost_input,
       coalesce(sum(cost_cache_read), 0)                    AS cost_cache_read,
       coalesce(sum(cost_cache_write_5m), 0)                AS cost_cache_write_5m,
       coalesce(sum(cost_cache_write_1h), 0)                AS cost_cache_write_1h,
       coalesce(sum(cost_output), 0)                        AS cost_output,
       coalesce(sum(cost_reasoning), 0)                     AS cost_reasoning,
       sum(reported_cost)                                   AS reported_cost_usd,
       count(reported_cost)                                 AS requests_with_reported_cost,
       sum(cost) FILTER (WHERE reported_cost IS NOT NULL)   AS our_cost_where_reported,
       min(ts)                                              AS first_ts,
       max(ts)                                              AS last_ts
FROM priced_requests
