-- new_models: the models logged in an audit's window and never before it, most requests first.
-- Inputs: requests; parameters $start, $end (the window). Output: model, provider, requests.
SELECT model, any_value(provider) AS provider, count(*) AS requests
FROM requests
WHERE trace_ms IS NULL AND ts >= $start AND ts < $end
  AND model NOT IN (SELECT DISTINCT model FROM requests WHERE ts < $start AND model IS NOT NULL)
GROUP BY model
ORDER BY count(*) DESC, model
