-- models_before: every model logged before a moment, with a provider it was logged under.
-- Inputs: requests; parameter $start. Output: model, provider.
SELECT model, any_value(provider) AS provider
FROM requests
WHERE trace_ms IS NULL AND ts < $start AND model IS NOT NULL
GROUP BY model
