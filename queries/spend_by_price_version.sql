-- spend_by_price_version: which dated price version priced how much spend, and any price adjustments.
-- Inputs: priced_requests (with price_version: the day a history version came into force, or "snapshot";
-- adjustments: batch, a service tier, off-peak, catalogue multipliers, NULL when none applied).
-- Output: model_key, price_version, adjustments, requests, cost_usd (at the prices of each call's day),
-- first_day and last_day of the calls.
SELECT model_key,
       price_version,
       adjustments,
       count(*)                 AS requests,
       fsum(cost)               AS cost_usd,
       CAST(min(ts) AS DATE)    AS first_day,
       CAST(max(ts) AS DATE)    AS last_day
FROM priced_requests
WHERE priced
GROUP BY ALL
ORDER BY cost_usd DESC NULLS LAST, model_key, price_version, adjustments NULLS FIRST
