-- last_user_messages: each request's last user message, the routing classifier's main input.
-- Inputs: messages, contents. Output: request_id, user_tokens (in the request's encoding), text (NULL in
-- --no-text databases).
WITH last AS (
    SELECT request_id, max(position) AS position
    FROM messages
    WHERE role = 'user' AND NOT is_output
    GROUP BY request_id
)
SELECT m.request_id, m.tokens AS user_tokens, c.text
FROM last
JOIN messages m USING (request_id, position)
JOIN contents c USING (content_id)
