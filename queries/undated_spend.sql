-- undated_spend: the period's calls with no timestamp, summed like one period (they count in the totals, in no
-- day).
-- Inputs: priced_requests.
-- Output: one row: requests, input_tokens, cache_read_tokens, cache_write_tokens (5-minute and 1-hour),
-- output_tokens, cost_usd (NULL when none is priced), has_unpriced.
SELECT count(*)                                                            AS requests,
       coalesce(sum(input_tokens), 0)::BIGINT                              AS input_tokens,
       coalesce(sum(cache_read_tokens), 0)::BIGINT                         AS cache_read_tokens,
       coalesce(sum(cache_write_5m_tokens + cache_write_1h_tokens), 0)::BIGINT AS cache_write_tokens,
       coalesce(sum(output_tokens), 0)::BIGINT                             AS output_tokens,
       fsum(cost)                                                          AS cost_usd,
       bool_or(NOT priced)                                                 AS has_unpriced
FROM priced_requests
WHERE ts IS NULL
