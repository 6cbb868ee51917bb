-- message_sequence: every request's input messages in time order, the input to thread reconstruction,
-- context-growth segments and prefix analysis.
-- Inputs: requests, messages. Parameters $since, $until.
-- Output: request_id, ts, model, scope (user, else api key, else ''), conversation_id, position, role, content_id,
-- tokens (in the request's encoding), is_output; ordered by ts, request_id, position.
SELECT r.request_id, r.ts, r.model, coalesce(r."user", r.api_key, '') AS scope, r.conversation_id,
       m.position, m.role, m.content_id, m.tokens, m.is_output
FROM requests r
JOIN messages m USING (request_id)
WHERE ($since IS NULL OR r.ts >= $since) AND ($until IS NULL OR r.ts < $until)
ORDER BY r.ts NULLS LAST, r.request_id, m.position
