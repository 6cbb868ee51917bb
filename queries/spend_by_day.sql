-- spend_by_day: daily spend per model, for the stacked daily chart and table.
-- Inputs: priced_requests.
-- Parameter $tz: the time zone whose calendar days are counted ('UTC' unless `report --tz` says otherwise).
-- Output: day (DATE in $tz), model (as logged: what people call it), model_key (the catalogue key it priced as,
-- NULL when unpriced), requests, tokens, cost_usd.
SELECT CASE WHEN $tz = 'UTC' THEN CAST(ts AS DATE)
            ELSE CAST(timezone($tz, timezone('UTC', ts)) AS DATE) END AS day,
       model,
       any_value(model_key)                  AS model_key,
       count(*)                              AS requests,
       sum(input_tokens)::BIGINT                     AS input_tokens,
       sum(cache_read_tokens)::BIGINT                AS cache_read_tokens,
       sum(cache_write_5m_tokens + cache_write_1h_tokens)::BIGINT AS cache_write_tokens,
       sum(output_tokens)::BIGINT                    AS output_tokens,
       fsum(cost)                            AS cost_usd,  -- NULL when no request of the group is priced
       bool_or(NOT priced)                   AS has_unpriced
FROM priced_requests
WHERE ts IS NOT NULL
GROUP BY ALL
ORDER BY day, cost_usd DESC NULLS LAST, model  -- ties in a stable order (golden tests, diffs between runs)
