-- logged_models: every model and provider the API calls name (block-hash traces have none), for --model.
-- Inputs: requests. Output: model, provider.
SELECT DISTINCT model, provider
FROM requests
WHERE trace_ms IS NULL
