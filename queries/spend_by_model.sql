-- spend_by_model: spend per logged model and the catalogue key it priced as.
-- Inputs: priced_requests.
-- Output: provider, model (as logged), model_key (NULL = unpriced), requests, tokens by type, cost by type,
-- cached_share (cache reads / all input), reported_cost_usd.
SELECT provider,
       model,
       any_value(model_key)                                  AS model_key,
       count(*)                                               AS requests,
       sum(input_tokens)::BIGINT                                      AS input_tokens,
       sum(cache_read_tokens)::BIGINT                                 AS cache_read_tokens,
       sum(cache_write_5m_tokens + cache_write_1h_tokens)::BIGINT     AS cache_write_tokens,
       sum(output_tokens)::BIGINT                                     AS output_tokens,
       sum(reasoning_tokens)::BIGINT                                  AS reasoning_tokens,
       fsum(cost)                                             AS cost_usd,
       fsum(cost_input)                                       AS cost_input,
       fsum(cost_cache_read)                                  AS cost_cache_read,
       fsum(cost_cache_write_5m + cost_cache_write_1h)        AS cost_cache_write,
       fsum(cost_output + cost_reasoning)                     AS cost_output,
       sum(cache_read_tokens)::BIGINT / nullif(sum(input_tokens)::BIGINT, 0)  AS cached_share,
       fsum(reported_cost)                                    AS reported_cost_usd,
       count(*) FILTER (WHERE batch)                          AS batch_requests
FROM priced_requests
GROUP BY provider, model
ORDER BY cost_usd DESC NULLS LAST, input_tokens DESC, model, provider
