-- api_calls: how many API calls the store holds (block-hash traces are not calls).
-- Inputs: requests. Output: requests.
SELECT count(*) AS requests
FROM requests
WHERE trace_ms IS NULL
