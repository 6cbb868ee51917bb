-- sequence_requests: the requests that carry message bodies, numbered in time order (req = 1, 2, ...), for
-- thread reconstruction, context segments and prefix analysis. The number lets the much longer message
-- sequence refer to its request by a small integer instead of repeating the id on every message.
-- Inputs: requests, messages. Parameters $since, $until.
-- Output: req, request_id, ts, model, scope (user, else api key, else ''), conversation_id.
SELECT row_number() OVER (ORDER BY r.ts NULLS LAST, r.request_id) AS req,
       r.request_id, r.ts, r.model, coalesce(r."user", r.api_key, '') AS scope, r.conversation_id
FROM requests r
WHERE EXISTS (SELECT 1 FROM messages m WHERE m.request_id = r.request_id)
  AND ($since IS NULL OR r.ts >= $since) AND ($until IS NULL OR r.ts < $until)
ORDER BY req
