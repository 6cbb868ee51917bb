-- unpriced_models: models the catalogue could not price, with the volume left out of every total.
-- Inputs: priced_requests.
-- Output: provider, model, requests, input_tokens, output_tokens, reported_cost_usd (what the log says, if any).
SELECT provider, model, count(*) AS requests, sum(input_tokens)::BIGINT AS input_tokens,
       sum(output_tokens)::BIGINT AS output_tokens, fsum(reported_cost) AS reported_cost_usd
FROM priced_requests
WHERE NOT priced
GROUP BY ALL
ORDER BY sum(input_tokens) + sum(output_tokens) DESC, model
