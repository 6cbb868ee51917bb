-- last_user_messages: each request's last user message, the routing classifier's main input, and the
-- request's whole input as we count it (for re-tokenizing a request routed to another model family).
-- Inputs: messages, contents. Output: request_id, user_tokens (in the request's encoding), text (NULL in
-- --no-text databases), counted_input (message tokens + 3 per message + 3 for the reply).
WITH last AS (
    SELECT request_id, max(position) AS position
    FROM messages
    WHERE role = 'user' AND NOT is_output
    GROUP BY request_id
), counted AS (
    SELECT request_id, sum(tokens)::BIGINT + 3 * count(*) + 3 AS counted_input
    FROM messages
    WHERE NOT is_output
    GROUP BY request_id
)
SELECT m.request_id, m.tokens AS user_tokens, c.text, n.counted_input
FROM last
JOIN messages m USING (request_id, position)
JOIN contents c USING (content_id)
JOIN counted n USING (request_id)
